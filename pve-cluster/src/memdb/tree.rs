//! The in-memory tree: every entry and all file contents, indexed by inode.

use std::collections::{BTreeMap, HashMap};

use super::Errno;

/// `d_type` values stored in the `type` column.
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;

/// Largest file the memdb stores (upstream's MEMDB_MAX_FILE_SIZE).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

impl Kind {
    pub fn dtype(self) -> u8 {
        match self {
            Kind::Dir => DT_DIR,
            Kind::File => DT_REG,
        }
    }
}

/// One file or directory. The root is inode 0 with an empty name.
#[derive(Clone, Debug)]
pub struct Entry {
    pub inode: u64,
    pub parent: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    pub kind: Kind,
    pub name: String,
    /// File contents (empty for directories).
    pub data: Vec<u8>,
    /// Directory children by name.
    pub children: BTreeMap<String, u64>,
}

/// Metadata of an entry without its contents, as handed out to readers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub inode: u64,
    pub parent: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    pub kind: Kind,
    pub name: String,
    pub size: u64,
}

impl Entry {
    pub fn new(inode: u64, parent: u64, kind: Kind, name: &str) -> Self {
        Entry {
            inode,
            parent,
            version: 0,
            writer: 0,
            mtime: 0,
            kind,
            name: name.to_string(),
            data: Vec::new(),
            children: BTreeMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn info(&self) -> EntryInfo {
        EntryInfo {
            inode: self.inode,
            parent: self.parent,
            version: self.version,
            writer: self.writer,
            mtime: self.mtime,
            kind: self.kind,
            name: self.name.clone(),
            size: self.size(),
        }
    }
}

/// A row of table `tree` (row 0 excluded), as loaded from or written to SQLite.
#[derive(Clone, Debug)]
pub struct Row {
    pub inode: u64,
    pub parent: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    pub dtype: u8,
    pub name: String,
    pub data: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub entries: HashMap<u64, Entry>,
}

/// Splits a path into its non-empty components.
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// `(dirname, basename)` of a path; leading/trailing/double slashes are ignored.
pub fn split_path(path: &str) -> (String, String) {
    let parts: Vec<&str> = components(path).collect();
    match parts.split_last() {
        Some((base, dir)) => (dir.join("/"), base.to_string()),
        None => (String::new(), String::new()),
    }
}

/// The final component of a new entry may not be empty, "." or "..".
pub fn valid_base_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == "..")
}

impl Tree {
    /// A tree holding only the root directory.
    pub fn empty() -> Self {
        let mut entries = HashMap::new();
        entries.insert(0, Entry::new(0, 0, Kind::Dir, ""));
        Tree { entries }
    }

    pub fn root(&self) -> &Entry {
        &self.entries[&0]
    }

    pub fn root_mut(&mut self) -> &mut Entry {
        self.entries.get_mut(&0).expect("root entry")
    }

    pub fn get(&self, inode: u64) -> Option<&Entry> {
        self.entries.get(&inode)
    }

    pub fn child(&self, dir: u64, name: &str) -> Option<&Entry> {
        let parent = self.entries.get(&dir)?;
        parent.children.get(name).and_then(|i| self.entries.get(i))
    }

    pub fn lookup(&self, path: &str) -> Option<&Entry> {
        let mut cur = self.root();
        for c in components(path) {
            if cur.kind != Kind::Dir {
                return None;
            }
            cur = self.child(cur.inode, c)?;
        }
        Some(cur)
    }

    /// The path of an inode relative to the root ("" for the root).
    pub fn path_of(&self, inode: u64) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = self.entries.get(&inode)?;
        while cur.inode != 0 {
            parts.push(cur.name.as_str());
            cur = self.entries.get(&cur.parent)?;
        }
        parts.reverse();
        Some(parts.join("/"))
    }

    /// Builds the tree from database rows, with the same consistency checks as
    /// upstream's loader (rows may list a child before its parent).
    pub fn from_rows(rows: Vec<Row>) -> Result<Tree, String> {
        let mut tree = Tree::empty();
        for row in &rows {
            if row.name.is_empty() {
                return Err(format!("inode {} has an empty name", row.inode));
            }
            let kind = match row.dtype {
                DT_DIR => Kind::Dir,
                DT_REG => Kind::File,
                t => return Err(format!("inode {} has unknown type {t}", row.inode)),
            };
            if kind == Kind::Dir && row.data.as_ref().is_some_and(|d| !d.is_empty()) {
                return Err(format!("directory inode {} has data", row.inode));
            }
            if tree.entries.contains_key(&row.inode) {
                return Err(format!("duplicate inode {}", row.inode));
            }
            let mut e = Entry::new(row.inode, row.parent, kind, &row.name);
            e.version = row.version;
            e.writer = row.writer;
            e.mtime = row.mtime;
            e.data = row.data.clone().unwrap_or_default();
            tree.entries.insert(row.inode, e);
        }
        for row in &rows {
            let parent = tree
                .entries
                .get_mut(&row.parent)
                .ok_or_else(|| format!("missing directory inode {}", row.parent))?;
            if parent.kind != Kind::Dir {
                return Err(format!("inode {} has a non-directory parent", row.inode));
            }
            if parent
                .children
                .insert(row.name.clone(), row.inode)
                .is_some()
            {
                return Err(format!(
                    "duplicate name '{}' in directory {}",
                    row.name, row.parent
                ));
            }
        }
        Ok(tree)
    }

    /// Resolves the parent directory of `path` for creating `base` in it.
    pub fn parent_for_new(&self, path: &str) -> Result<(u64, String), Errno> {
        let (dir, base) = split_path(path);
        let parent = self.lookup(&dir).ok_or(Errno::ENOENT)?;
        if parent.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        if !valid_base_name(&base) {
            return Err(Errno::EACCES);
        }
        Ok((parent.inode, base))
    }

    pub fn insert(&mut self, e: Entry) {
        if let Some(p) = self.entries.get_mut(&e.parent) {
            p.children.insert(e.name.clone(), e.inode);
        }
        self.entries.insert(e.inode, e);
    }

    pub fn remove(&mut self, inode: u64) -> Option<Entry> {
        let e = self.entries.remove(&inode)?;
        if let Some(p) = self.entries.get_mut(&e.parent) {
            p.children.remove(&e.name);
        }
        Some(e)
    }
}
