//! The command tree of a CLI tool (`qm`, `pct`, `pvesm`, …), as upstream's
//! `PVE::CLIHandler`: words map to API methods with positional and fixed parameters,
//! nested groups (`qm disk resize`), aliases, and the built-in `help` and
//! `bashcomplete`. [`run_cli`] dispatches, parses, calls and prints.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::getopt::{get_options_with, ArgParam};
use super::usage::{getopt_usage, standard_output_options, UsageFormat};
use crate::api::{call_method, ApiError, ApiMethod, HttpMethod, RpcEnv};
use crate::schema::{JsonType, Schema};

/// The formatter options given on the command line (`--output-format`, …) and any
/// other formatter property of the command.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputOpts {
    pub params: Map<String, Value>,
}

impl OutputOpts {
    fn flag(&self, name: &str) -> Option<bool> {
        self.params.get(name).map(crate::schema::perl_truthy)
    }

    /// `text` unless given.
    pub fn output_format(&self) -> &str {
        self.params
            .get("output-format")
            .and_then(Value::as_str)
            .unwrap_or("text")
    }

    pub fn noborder(&self) -> bool {
        self.flag("noborder").unwrap_or(false)
    }

    pub fn noheader(&self) -> bool {
        self.flag("noheader").unwrap_or(false)
    }

    pub fn quiet(&self) -> bool {
        self.flag("quiet").unwrap_or(false)
    }

    /// On unless given as false.
    pub fn human_readable(&self) -> bool {
        self.flag("human-readable").unwrap_or(true)
    }
}

/// A command's own printer of the result.
pub type OutputFn = Arc<
    dyn Fn(&mut dyn Write, &Value, &ApiMethod, &OutputOpts) -> std::io::Result<()> + Send + Sync,
>;

/// Upstream's `$upid_exit` for commands that start a worker: when the task (whose
/// UPID is the result) failed, the command exits with 255 once its output is flushed.
pub fn upid_exit(
    out: &mut dyn Write,
    data: &Value,
    _m: &ApiMethod,
    _o: &OutputOpts,
) -> std::io::Result<()> {
    let Some(upid) = data.as_str() else {
        return Ok(());
    };
    let paths = crate::NodePaths::from_env();
    let status = crate::tasks::task_status(&paths, upid)
        .ok()
        .and_then(|s| s.exitstatus)
        .unwrap_or_default();
    if status != "OK" && !status.starts_with("WARNINGS") {
        out.flush()?;
        std::process::exit(255);
    }
    Ok(())
}

/// The standard result formatter: data, the method's return schema, the properties to
/// print (columns), the options.
pub type StandardFormatter =
    fn(&mut dyn Write, &Value, &Schema, Option<&[String]>, &OutputOpts) -> std::io::Result<()>;

/// What happens with a command's result.
#[derive(Clone, Default)]
pub enum Output {
    /// Nothing is printed.
    #[default]
    None,
    Custom(OutputFn),
    /// The standard formatter of the [`CliDef`], with these columns (all if `None`).
    Standard {
        props_to_print: Option<Vec<String>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Help,
}

/// One command: an API method and how the command line maps to its parameters.
#[derive(Clone)]
pub struct Command {
    /// Upstream's class of the method (`PVE::API2::Qemu`); the command list groups and
    /// orders commands by it.
    pub class: String,
    pub method: ApiMethod,
    pub arg_param: ArgParam,
    pub fixed_param: Map<String, Value>,
    pub output: Output,
    /// Extra properties parsed for the output function (not passed to the method).
    pub formatter_props: Option<BTreeMap<String, Schema>>,
    builtin: Option<Builtin>,
}

impl Command {
    pub fn new(class: &str, method: ApiMethod) -> Self {
        Self {
            class: class.to_string(),
            method,
            arg_param: ArgParam::None,
            fixed_param: Map::new(),
            output: Output::None,
            formatter_props: None,
            builtin: None,
        }
    }

    /// Positional parameters, in order.
    pub fn args(mut self, names: &[&str]) -> Self {
        self.arg_param = ArgParam::positional(names);
        self
    }

    /// All positional arguments as the value of one `-list` parameter.
    pub fn list_arg(mut self, name: &str) -> Self {
        self.arg_param = ArgParam::List(name.to_string());
        self
    }

    /// A parameter the command sets itself (`node`).
    pub fn fixed(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fixed_param.insert(name.to_string(), value.into());
        self
    }

    pub fn output<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut dyn Write, &Value, &ApiMethod, &OutputOpts) -> std::io::Result<()>
            + Send
            + Sync
            + 'static,
    {
        self.output = Output::Custom(Arc::new(f));
        self
    }

    /// Formatted output: the standard output options and the standard formatter.
    pub fn formatted(mut self, props_to_print: Option<&[&str]>) -> Self {
        self.output = Output::Standard {
            props_to_print: props_to_print.map(|p| p.iter().map(|s| s.to_string()).collect()),
        };
        let mut props = self.formatter_props.take().unwrap_or_default();
        props.extend(standard_output_options());
        self.formatter_props = Some(props);
        self
    }

    /// Adds formatter properties (parsed, handed to the output function).
    pub fn formatter_props(mut self, props: BTreeMap<String, Schema>) -> Self {
        self.formatter_props
            .get_or_insert_with(Default::default)
            .extend(props);
        self
    }

    fn usage(&self, prefix: &str, format: UsageFormat) -> String {
        getopt_usage(
            &self.method,
            prefix,
            &self.arg_param,
            &self.fixed_param,
            format,
            self.formatter_props.as_ref(),
        )
    }
}

/// An entry of a command group.
#[derive(Clone)]
pub enum CliEntry {
    Command(Box<Command>),
    Group(CliGroup),
    /// Another command path of the same level (`disk resize`).
    Alias(String),
}

/// The commands of one level.
#[derive(Clone, Default)]
pub struct CliGroup {
    pub entries: BTreeMap<String, CliEntry>,
}

impl CliGroup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn command(mut self, name: &str, cmd: Command) -> Self {
        self.entries
            .insert(name.to_string(), CliEntry::Command(Box::new(cmd)));
        self
    }

    pub fn group(mut self, name: &str, group: CliGroup) -> Self {
        self.entries
            .insert(name.to_string(), CliEntry::Group(group));
        self
    }

    pub fn alias(mut self, name: &str, target: &str) -> Self {
        self.entries
            .insert(name.to_string(), CliEntry::Alias(target.to_string()));
        self
    }

    fn is_alias(&self, name: &str) -> bool {
        matches!(self.entries.get(name), Some(CliEntry::Alias(_)))
    }

    /// The command names `word` may stand for: itself when it exists, else the
    /// non-alias names it is a prefix of.
    fn expand(&self, word: &str) -> Vec<&str> {
        if let Some((k, _)) = self.entries.get_key_value(word) {
            return vec![k.as_str()];
        }
        self.entries
            .keys()
            .filter(|k| k.starts_with(word) && !self.is_alias(k))
            .map(String::as_str)
            .collect()
    }

    /// Non-alias names, sorted.
    fn command_names(&self) -> Vec<&str> {
        self.entries
            .keys()
            .filter(|k| !self.is_alias(k))
            .map(String::as_str)
            .collect()
    }
}

/// A CLI tool's definition.
#[derive(Clone)]
pub struct CliDef {
    pub root: CliGroup,
    /// Prints results of [`Output::Standard`] commands.
    pub formatter: StandardFormatter,
    /// The exit code for an error (upstream's is Perl's `die`: 255, or the errno left
    /// by a failed system call).
    pub error_exit_code: fn(&ApiError) -> i32,
}

impl CliDef {
    pub fn new(root: CliGroup) -> Self {
        Self {
            root,
            formatter: standard_formatter,
            error_exit_code: |_| 255,
        }
    }

    pub fn formatter(mut self, f: StandardFormatter) -> Self {
        self.formatter = f;
        self
    }

    pub fn error_exit_code(mut self, f: fn(&ApiError) -> i32) -> Self {
        self.error_exit_code = f;
        self
    }
}

/// The format options of a command line: the output options given over this
/// terminal's settings (locale, width).
pub fn format_options(opts: &OutputOpts) -> std::io::Result<super::format::FormatOptions> {
    let mut fo = super::format::FormatOptions::from_env();
    fo.format = opts
        .output_format()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")))?;
    fo.noborder = opts.noborder();
    fo.noheader = opts.noheader();
    fo.human_readable = opts.human_readable();
    fo.quiet = opts.quiet();
    Ok(fo)
}

/// Prints `data` as upstream's `print_api_result` does with `fo`; nothing when quiet.
pub fn print_api_result(
    out: &mut dyn Write,
    data: &Value,
    returns: &Schema,
    props: Option<&[String]>,
    fo: &super::format::FormatOptions,
) -> std::io::Result<()> {
    if fo.quiet {
        return Ok(());
    }
    let text = super::format::try_format_api_result(data, returns, props, fo)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    out.write_all(text.as_bytes())
}

/// The standard formatter of a [`CliDef`]: [`print_api_result`] with the command line's
/// [`format_options`].
pub fn standard_formatter(
    out: &mut dyn Write,
    data: &Value,
    returns: &Schema,
    props: Option<&[String]>,
    opts: &OutputOpts,
) -> std::io::Result<()> {
    print_api_result(out, data, returns, props, &format_options(opts)?)
}

/// The built-in `help` command's method (its schema drives parsing and usage).
fn help_command() -> Command {
    let mut extra = Schema::of_type(JsonType::Array)
        .description("Shows help for a specific command")
        .optional();
    extra.items = Some(Box::new(Schema::of_type(JsonType::String)));
    let verbose = Schema::of_type(JsonType::Boolean)
        .description("Verbose output format.")
        .optional();
    let method = ApiMethod::new(
        "help",
        HttpMethod::Get,
        "Get help about specified command.",
        |_, _| Ok(Value::Null.into()),
    )
    .param("extra-args", extra)
    .param("verbose", verbose);
    let mut cmd = Command::new("PVE::CLIHandler", method).args(&["extra-args"]);
    cmd.builtin = Some(Builtin::Help);
    cmd
}

enum Node<'a> {
    Group(&'a CliGroup),
    Command(&'a Command),
}

struct Resolved<'a> {
    cmd: Option<String>,
    node: Option<Node<'a>>,
    args: Vec<String>,
    expanded_last: Option<String>,
    cmdstr: String,
    argv: Vec<String>,
}

/// Walks the tree along `argv` (unique prefixes expand, one alias level resolves).
fn resolve_cmd<'a>(
    root: &'a CliGroup,
    program: &str,
    mut argv: Vec<String>,
    via_alias: bool,
) -> Result<Resolved<'a>, String> {
    let mut group = root;
    let mut node = Some(Node::Group(root));
    let mut cmdstr = program.to_string();
    let mut expanded_last = None;
    let last = argv.len().saturating_sub(1);
    for i in 0..argv.len() {
        let hits = group.expand(&argv[i]);
        let cmd = if hits.len() == 1 {
            if i == last {
                expanded_last = Some(hits[0].to_string());
            }
            hits[0].to_string()
        } else {
            argv[i].clone()
        };
        cmdstr.push(' ');
        cmdstr.push_str(&cmd);
        match group.entries.get(&cmd) {
            None => {
                if group.expand(&cmd).is_empty() {
                    node = None;
                }
                break;
            }
            Some(CliEntry::Command(c)) => {
                return Ok(Resolved {
                    cmd: Some(cmd),
                    node: Some(Node::Command(c)),
                    args: argv[i + 1..].to_vec(),
                    expanded_last,
                    cmdstr,
                    argv,
                });
            }
            Some(CliEntry::Alias(target)) => {
                if via_alias {
                    return Err(format!("alias loop detected for '{cmd}'"));
                }
                let words: Vec<String> = target
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect();
                argv.splice(i..=i, words);
                return resolve_cmd(root, program, argv, true);
            }
            Some(CliEntry::Group(g)) => {
                group = g;
                node = Some(Node::Group(g));
            }
        }
    }
    Ok(Resolved {
        cmd: argv.first().cloned(),
        node,
        args: argv.get(1..).map(<[String]>::to_vec).unwrap_or_default(),
        expanded_last,
        cmdstr,
        argv,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortOrder {
    Name,
    /// Groups first, then commands by class and name (the short command list).
    ByClass,
}

/// A command list could not be generated: this command does not exist.
struct Abort(String);

struct Cli<'a> {
    root: &'a CliGroup,
    program: &'a str,
}

impl Cli<'_> {
    fn usage_listing(
        &self,
        format: UsageFormat,
        cmd: Option<&[String]>,
        indent: &str,
        separator: &str,
        order: SortOrder,
    ) -> Result<String, Abort> {
        let (node, prefix) = match cmd {
            None => (Some(Node::Group(self.root)), self.program.to_string()),
            Some(words) => {
                let r =
                    resolve_cmd(self.root, self.program, words.to_vec(), false).map_err(Abort)?;
                (r.node, r.cmdstr)
            }
        };
        match node {
            None => Err(Abort(format!(
                "unknown command '{}'",
                cmd.and_then(|c| c.first()).map_or("", String::as_str)
            ))),
            Some(Node::Command(c)) => Ok(format!("{indent}{}", c.usage(&prefix, format))),
            Some(Node::Group(g)) => Ok(listing(g, format, indent, separator, order, &prefix)),
        }
    }

    fn print_usage_short(
        &self,
        out: &mut dyn Write,
        msg: Option<&str>,
        cmd: Option<&[String]>,
    ) -> Result<(), Abort> {
        if let Some(msg) = msg {
            let _ = writeln!(out, "ERROR: {msg}");
        }
        let _ = write!(
            out,
            "USAGE: {} <COMMAND> [ARGS] [OPTIONS]\n\n",
            self.program
        );
        let separator = if cmd.is_some() { "" } else { "\n" };
        let text = self.usage_listing(
            UsageFormat::Short,
            cmd,
            "       ",
            separator,
            SortOrder::ByClass,
        )?;
        let _ = out.write_all(text.as_bytes());
        Ok(())
    }

    /// Prints the short command list to stderr with an error; the exit code.
    fn abort(&self, err: &mut dyn Write, msg: &str, cmd: Option<&[String]>) -> i32 {
        if let Err(Abort(inner)) = self.print_usage_short(err, Some(msg), cmd) {
            let _ = self.print_usage_short(err, Some(&inner), None);
        }
        255
    }

    fn help(&self, out: &mut dyn Write, err: &mut dyn Write, params: &Map<String, Value>) -> i32 {
        let cmd: Option<Vec<String>> = params.get("extra-args").map(|v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_string())
                .collect(),
            other => vec![other.as_str().unwrap_or_default().to_string()],
        });
        let mut verbose = cmd.is_some();
        if let Some(v) = params.get("verbose") {
            verbose = crate::schema::perl_truthy(v);
        }
        let Some(words) = cmd else {
            if verbose {
                let _ = write!(
                    out,
                    "USAGE: {} <COMMAND> [ARGS] [OPTIONS]\n\n",
                    self.program
                );
                let text = self.usage_listing(UsageFormat::Full, None, "", "", SortOrder::Name);
                let _ = writeln!(out, "{}", text.unwrap_or_else(|Abort(m)| m));
            } else if let Err(Abort(m)) = self.print_usage_short(out, None, None) {
                return self.abort(err, &m, None);
            }
            return 0;
        };
        let text = if verbose {
            self.usage_listing(UsageFormat::Full, Some(&words), "", "", SortOrder::Name)
        } else {
            self.usage_listing(
                UsageFormat::Short,
                Some(&words),
                "       ",
                "",
                SortOrder::Name,
            )
        };
        match text {
            Ok(text) => {
                let text = text.trim_start();
                if verbose {
                    let _ = writeln!(out, "{text}");
                } else {
                    let _ = writeln!(out, "USAGE: {text}");
                }
                0
            }
            Err(Abort(m)) => self.abort(err, &m, None),
        }
    }
}

fn listing(
    group: &CliGroup,
    format: UsageFormat,
    indent: &str,
    separator: &str,
    order: SortOrder,
    prefix: &str,
) -> String {
    let mut names: Vec<(&String, &CliEntry)> = group.entries.iter().collect();
    if order == SortOrder::ByClass {
        names.sort_by(|(an, a), (bn, b)| match (a, b) {
            (CliEntry::Command(ca), CliEntry::Command(cb)) => {
                ca.class.cmp(&cb.class).then_with(|| an.cmp(bn))
            }
            (CliEntry::Command(_), _) => std::cmp::Ordering::Greater,
            (_, CliEntry::Command(_)) => std::cmp::Ordering::Less,
            _ => an.cmp(bn),
        });
    }
    let mut out = String::new();
    let mut old_class: Option<&str> = None;
    for (name, entry) in names {
        match entry {
            CliEntry::Command(c) => {
                if old_class.is_some_and(|o| !o.is_empty() && o != c.class) {
                    out.push_str(separator);
                }
                out.push_str(indent);
                out.push_str(&c.usage(&format!("{prefix} {name}"), format));
                old_class = Some(&c.class);
            }
            CliEntry::Alias(_) => {}
            CliEntry::Group(g) => {
                let mut sub = listing(g, format, indent, "", order, &format!("{prefix} {name}"));
                if !sub.is_empty() {
                    if !separator.is_empty() && !sub.contains(&separator.repeat(2)) {
                        sub.push_str(separator);
                    }
                    out.push_str(&sub);
                }
            }
        }
    }
    out
}

/// Upstream's text of an error: `status message` (the message only for plain
/// failures), the parameter errors, then the usage line of parameter errors.
pub fn error_text(e: &ApiError, usage: Option<&str>) -> String {
    let mut msg = if e.status == 500 && e.errors.is_empty() {
        e.message.clone()
    } else {
        format!("{} {}", e.status, e.message)
    };
    if !msg.ends_with('\n') {
        msg.push('\n');
    }
    for (k, v) in &e.errors {
        msg.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(u) = usage.filter(|u| !u.is_empty()) {
        msg.push_str(u);
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
    }
    msg
}

/// Runs the CLI `program` with `args` (without the program name) on stdout/stderr;
/// returns the exit code.
pub fn run_cli(def: &CliDef, program: &str, args: Vec<String>, env: RpcEnv) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = run_cli_with_io(
        def,
        program,
        args,
        &env,
        &mut stdout.lock(),
        &mut stderr.lock(),
    );
    let _ = std::io::stdout().flush();
    code
}

/// [`run_cli`] writing to `out` and `err`.
pub fn run_cli_with_io(
    def: &CliDef,
    program: &str,
    args: Vec<String>,
    env: &RpcEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut root = def.root.clone();
    root.entries
        .insert("help".into(), CliEntry::Command(Box::new(help_command())));
    let cli = Cli {
        root: &root,
        program,
    };
    let resolved = match resolve_cmd(&root, program, args, false) {
        Ok(r) => r,
        Err(msg) => {
            let _ = writeln!(err, "{msg}");
            return 255;
        }
    };
    let cmd = resolved.cmd.clone().unwrap_or_default();
    if cmd.is_empty() || cmd == "0" {
        return cli.abort(err, "no command specified", None);
    }
    if cmd == "verifyapi" {
        return 0;
    }
    if cmd == "bashcomplete" {
        let comp_line = std::env::var("COMP_LINE").ok();
        let comp_point = std::env::var("COMP_POINT").ok();
        let line = comp_line.zip(comp_point.and_then(|p| p.parse().ok()));
        bash_complete(&root, program, &resolved.args, line, out);
        return 0;
    }
    let command = match resolved.node {
        Some(Node::Group(_)) => {
            let msg = format!("incomplete command '{}'", resolved.cmdstr);
            return cli.abort(err, &msg, Some(&resolved.argv));
        }
        None => {
            let msg = format!("unknown command '{}'", resolved.cmdstr);
            return cli.abort(err, &msg, None);
        }
        Some(Node::Command(c)) => c,
    };
    run_command(def, &cli, command, &resolved, env, out, err)
}

fn run_command(
    def: &CliDef,
    cli: &Cli<'_>,
    command: &Command,
    resolved: &Resolved<'_>,
    env: &RpcEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let method = &command.method;
    let schema = match &command.formatter_props {
        Some(fp) => Schema {
            all_of: Some(vec![
                method.parameters.clone(),
                Schema {
                    properties: Some(crate::schema::shared_properties(fp.clone())),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        },
        None => method.parameters.clone(),
    };
    let mut fmt_params = Map::new();
    let result = get_options_with(
        &schema,
        &resolved.args,
        &command.arg_param,
        &command.fixed_param,
        &mut |w| {
            let _ = err.write_all(w.as_bytes());
        },
    )
    .and_then(|mut params| {
        if let Some(fp) = &command.formatter_props {
            for k in fp.keys() {
                if let Some(v) = params.remove(k) {
                    if !v.is_null() {
                        fmt_params.insert(k.clone(), v);
                    }
                }
            }
        }
        if command.builtin == Some(Builtin::Help) {
            return Ok(Some(params));
        }
        call_method(method, env, params).map(|r| {
            let _ = write_output(def, command, &r.data, &fmt_params, out);
            None
        })
    });
    match result {
        Ok(Some(help_params)) => cli.help(out, err, &help_params),
        Ok(None) => 0,
        Err(e) => {
            let usage =
                (e.status == 400).then(|| command.usage(&resolved.cmdstr, UsageFormat::Short));
            let _ = err.write_all(error_text(&e, usage.as_deref()).as_bytes());
            (def.error_exit_code)(&e)
        }
    }
}

fn write_output(
    def: &CliDef,
    command: &Command,
    data: &Value,
    fmt_params: &Map<String, Value>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let opts = OutputOpts {
        params: fmt_params.clone(),
    };
    match &command.output {
        Output::None => Ok(()),
        Output::Custom(f) => f(out, data, &command.method, &opts),
        Output::Standard { props_to_print } => (def.formatter)(
            out,
            data,
            &command.method.returns,
            props_to_print.as_deref(),
            &opts,
        ),
    }
}

/// Splits a command line as a shell would for completion: blanks separate words,
/// quotes group, a backslash escapes the next character.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// `<program> bashcomplete <cmd> <cur> <prev>` with the line up to the cursor from
/// `COMP_LINE`/`COMP_POINT`: prints the candidates starting with `cur`.
fn bash_complete(
    root: &CliGroup,
    program: &str,
    args: &[String],
    comp: Option<(String, usize)>,
    out: &mut dyn Write,
) {
    let (Some(cur), Some(prev), Some((line, point))) = (args.get(1), args.get(2), comp) else {
        return;
    };
    let cmdline: String = line.chars().take(point).collect();
    let mut words = split_words(&cmdline);
    if !words.is_empty() {
        words.remove(0);
    }
    let mut print = |items: &[String]| {
        for p in items {
            if p.starts_with(cur.as_str()) {
                let _ = writeln!(out, "{p}");
            }
        }
    };
    let Ok(r) = resolve_cmd(root, program, words, false) else {
        return;
    };
    if let Some(exp) = &r.expanded_last {
        if prev != exp {
            let _ = writeln!(out, "{exp}");
            return;
        }
    }
    let command = match r.node {
        Some(Node::Group(g)) => {
            let names: Vec<String> = g.command_names().iter().map(|s| s.to_string()).collect();
            print(&names);
            return;
        }
        Some(Node::Command(c)) => c,
        None => return,
    };
    let mut pos = r.args.len() as i64 - 1;
    if cmdline.ends_with(char::is_whitespace) {
        pos += 1;
    }
    if pos < 0 {
        return;
    }
    let arg_names = command.arg_param.names();
    let mut props: BTreeMap<String, Schema> = BTreeMap::new();
    for visit in super::schema_walk::for_each_property(&command.method.parameters) {
        props
            .entry(visit.name.to_string())
            .or_insert_with(|| visit.schema.clone());
    }
    if let Some(fp) = &command.formatter_props {
        props.extend(fp.clone());
    }
    let values = |name: &str| -> Vec<String> {
        match props.get(name) {
            Some(s) if super::schema_walk::has_type(s, JsonType::Boolean) => {
                vec!["0".into(), "1".into()]
            }
            Some(s) => s
                .enum_
                .iter()
                .flatten()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            None => Vec::new(),
        }
    };
    if let Some(name) = usize::try_from(pos).ok().and_then(|p| arg_names.get(p)) {
        print(&values(name));
        return;
    }
    let options: Vec<String> = props
        .keys()
        .filter(|k| !arg_names.contains(&k.as_str()) && !command.fixed_param.contains_key(*k))
        .map(|k| format!("--{k}"))
        .collect();
    if cur.starts_with('-') {
        print(&options);
        return;
    }
    if let Some(name) = prev.strip_prefix("--").or_else(|| prev.strip_prefix('-')) {
        if props.contains_key(name) {
            print(&values(name));
            return;
        }
    }
    print(&options);
}
