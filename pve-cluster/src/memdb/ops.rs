//! The mutating operations, with upstream's checks, version rules and errnos.

use super::tree::{split_path, Entry, Kind};
use super::vmlist::guest_path;
use super::{
    entry_csum, is_lock_dir_path, row_of, take_answer, Applied, Errno, RootState, State, Touched,
    ANSWER, MAX_FILE_SIZE,
};

fn touched(e: &Entry, removed: bool) -> Touched {
    Touched {
        inode: e.inode,
        parent: e.parent,
        name: e.name.clone(),
        removed,
    }
}

impl State {
    /// Takes the next global version, stamped with `writer` and `mtime`.
    fn bump(&mut self, writer: u32, mtime: u32) -> u64 {
        let root = self.tree.root_mut();
        root.version += 1;
        root.writer = writer;
        root.mtime = mtime;
        root.version
    }

    fn root_state(&self) -> RootState {
        let r = self.tree.root();
        RootState {
            version: r.version,
            writer: r.writer,
            mtime: r.mtime,
        }
    }

    /// Persists one change (entry row and/or deletion plus row 0) in one transaction;
    /// `applied` is what the change did, for the answer of `Memdb::apply_answering`
    /// (given as soon as the commit reached the WAL).
    fn persist(
        &mut self,
        inode: Option<u64>,
        delete_inode: Option<u64>,
        applied: &Applied,
    ) -> Result<(), Errno> {
        let row = inode.and_then(|i| self.tree.get(i)).map(row_of);
        let root = self.root_state();
        let _answer_early = ANSWER.with(|a| a.borrow().is_some()).then(|| {
            let applied = applied.clone();
            super::walvfs::after_commit_written(Box::new(move || {
                if let Some(answer) = take_answer() {
                    answer(Ok(&applied));
                }
            }))
        });
        let mut guard = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let Some(db) = guard.as_mut() else {
            drop(guard);
            self.errors = true;
            return Err(Errno::EIO);
        };
        if let Err(err) = db.commit(row.as_ref(), delete_inode, root) {
            drop(guard);
            eprintln!("pmxcfs: database write failed: {err}");
            self.errors = true;
            return Err(Errno::EIO);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn pwrite(
        &mut self,
        path: &str,
        writer: u32,
        mtime: u32,
        data: &[u8],
        offset: u32,
        truncate: bool,
        create: bool,
    ) -> Result<Applied, Errno> {
        let offset = offset as usize;
        if (offset + data.len()) as u64 > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let (parent, base) = self.tree.parent_for_new(path)?;
        let guest = guest_path(path);
        if let Some(g) = &guest {
            if self.vmlist.different_exists(g) {
                return Err(Errno::EEXIST);
            }
        }
        let existing = self.tree.child(parent, &base).map(|e| (e.inode, e.kind));
        let inode = match existing {
            Some((_, Kind::Dir)) => return Err(Errno::ENOTDIR),
            Some(_) if create => return Err(Errno::EEXIST),
            Some((inode, _)) => {
                self.bump(writer, mtime);
                inode
            }
            None if !create => return Err(Errno::ENOENT),
            None => {
                let inode = self.bump(writer, mtime);
                self.tree
                    .insert(Entry::new(inode, parent, Kind::File, &base));
                inode
            }
        };
        let version = self.tree.root().version;
        let e = self.tree.entries.get_mut(&inode).expect("entry exists");
        e.version = version;
        e.writer = writer;
        e.mtime = mtime;
        let end = offset + data.len();
        if end > e.data.len() || truncate {
            e.data.resize(end, 0);
        }
        e.data[offset..end].copy_from_slice(data);
        let applied = Applied {
            count: data.len(),
            touched: vec![touched(e, false)],
            entry: Some(e.info()),
        };
        self.counters.record_change(path);
        self.persist(Some(inode), None, &applied)?;
        if let Some(g) = &guest {
            self.vmlist.register(g);
        }
        Ok(applied)
    }

    pub(super) fn mkdir(&mut self, path: &str, writer: u32, mtime: u32) -> Result<Applied, Errno> {
        let (parent, base) = self.tree.parent_for_new(path)?;
        if self.tree.child(parent, &base).is_some() {
            return Err(Errno::EEXIST);
        }
        let inode = self.bump(writer, mtime);
        let mut e = Entry::new(inode, parent, Kind::Dir, &base);
        e.version = inode;
        e.writer = writer;
        e.mtime = mtime;
        let applied = Applied {
            count: 0,
            touched: vec![touched(&e, false)],
            entry: Some(e.info()),
        };
        self.tree.insert(e);
        self.persist(Some(inode), None, &applied)?;
        if is_lock_dir_path(path) {
            let csum = entry_csum(&self.tree.entries[&inode]);
            self.locks.restart(path, csum);
        }
        Ok(applied)
    }

    pub(super) fn delete(&mut self, path: &str, writer: u32, mtime: u32) -> Result<Applied, Errno> {
        let e = self.tree.lookup(path).ok_or(Errno::ENOENT)?;
        if e.inode == 0 {
            return Err(Errno::EACCES);
        }
        if e.kind == Kind::Dir {
            if !e.children.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            self.locks.remove(path);
        }
        let inode = e.inode;
        self.counters.record_change(path);
        let removed = self.tree.remove(inode).expect("entry exists");
        self.bump(writer, mtime);
        let applied = Applied {
            count: 0,
            touched: vec![touched(&removed, true)],
            entry: None,
        };
        self.persist(None, Some(inode), &applied)?;
        if let Some(g) = guest_path(path) {
            self.vmlist.delete(g.vmid);
        }
        Ok(applied)
    }

    pub(super) fn rename(
        &mut self,
        from: &str,
        to: &str,
        writer: u32,
        mtime: u32,
    ) -> Result<Applied, Errno> {
        let src = self.tree.lookup(from).ok_or(Errno::ENOENT)?;
        if src.inode == 0 {
            return Err(Errno::EACCES);
        }
        let (src_inode, src_kind) = (src.inode, src.kind);
        let from_guest = guest_path(from);
        let to_guest = if src_kind == Kind::File {
            guest_path(to)
        } else {
            None
        };
        if let Some(g) = &to_guest {
            let same_vm = from_guest.as_ref().is_some_and(|f| f.vmid == g.vmid);
            if self.vmlist.different_exists(g) && !same_vm {
                return Err(Errno::EEXIST);
            }
        }
        if src_kind == Kind::Dir && is_lock_dir_path(from) {
            return Err(Errno::EACCES);
        }
        // Directories move only when empty (this keeps guest ids unique).
        if src_kind == Kind::Dir && !self.tree.entries[&src_inode].children.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let (target_dir, base, delete_inode) = match self.tree.lookup(to) {
            Some(t) if t.inode == src_inode => return Ok(Applied::default()),
            Some(t) => {
                if t.inode == 0 {
                    return Err(Errno::EACCES);
                }
                if t.kind == Kind::Dir && !t.children.is_empty() {
                    return Err(Errno::ENOTEMPTY);
                }
                (t.parent, t.name.clone(), Some(t.inode))
            }
            None => {
                let (dir, base) = split_path(to);
                let d = self.tree.lookup(&dir).ok_or(Errno::ENOENT)?;
                if d.kind != Kind::Dir {
                    return Err(Errno::ENOTDIR);
                }
                (d.inode, base, None)
            }
        };
        self.counters.record_change(from);
        self.counters.record_change(to);
        let mut touched_list = Vec::new();
        if let Some(del) = delete_inode {
            if let Some(old) = self.tree.remove(del) {
                touched_list.push(touched(&old, true));
            }
        }
        let mut e = self.tree.remove(src_inode).expect("entry exists");
        touched_list.push(touched(&e, true));
        let version = self.bump(writer, mtime);
        e.parent = target_dir;
        e.name = base;
        e.version = version;
        e.writer = writer;
        e.mtime = mtime;
        touched_list.push(touched(&e, false));
        let applied = Applied {
            count: 0,
            touched: touched_list,
            entry: Some(e.info()),
        };
        self.tree.insert(e);
        self.persist(Some(src_inode), delete_inode, &applied)?;
        if src_kind == Kind::File {
            if let Some(f) = &from_guest {
                self.vmlist.delete(f.vmid);
            }
            if let Some(g) = &to_guest {
                self.vmlist.register(g);
            }
        }
        Ok(applied)
    }

    pub(super) fn set_mtime(
        &mut self,
        path: &str,
        writer: u32,
        mtime: u32,
    ) -> Result<Applied, Errno> {
        let (dir, base) = split_path(path);
        let parent = self.tree.lookup(&dir).ok_or(Errno::ENOENT)?;
        if parent.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        if !super::tree::valid_base_name(&base) {
            return Err(Errno::EACCES);
        }
        let e = self.tree.child(parent.inode, &base).ok_or(Errno::ENOENT)?;
        let is_lock = e.kind == Kind::Dir && is_lock_dir_path(path);
        // utime(0) is the unlock request, so a lock's mtime only moves forward, and
        // only its holder may refresh it.
        if is_lock && (mtime < e.mtime || e.writer != writer) {
            return Err(Errno::EACCES);
        }
        let inode = e.inode;
        let version = self.bump(writer, mtime);
        let e = self.tree.entries.get_mut(&inode).expect("entry exists");
        e.version = version;
        e.writer = writer;
        e.mtime = mtime;
        let applied = Applied {
            count: 0,
            touched: vec![touched(e, false)],
            entry: Some(e.info()),
        };
        self.counters.record_change(path);
        self.persist(Some(inode), None, &applied)?;
        if is_lock {
            let csum = entry_csum(&self.tree.entries[&inode]);
            self.locks.restart(path, csum);
        }
        Ok(applied)
    }
}
