//! The house rules of ARCHITECTURE.md, checked on the source: layers point one way, and no
//! files import each other in a circle. Reads every `crate::`, `super::` and child-module path
//! under `src/` (in `use` lines and inline), so a new import that points up or sideways fails
//! here with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer. A module may import only from lower layers; two modules on
/// one layer (the front-ends, for one) may not import each other.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("config", 0),
    ("i18n", 1),
    ("charts", 1),
    ("store", 2),
    ("engine", 3),
    ("outbox", 4),
    ("webhooks", 4),
    ("scheduler", 5),
    ("demo", 5),
    ("discord", 6),
    ("console", 6),
    ("http", 6),
];

/// A source file: its module path (`["engine", "ctx"]`) and text.
struct File {
    path: String,
    module: Vec<String>,
    is_parent: bool,
    text: String,
}

fn files() -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let p: PathBuf = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(&root).expect("under src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            // main.rs is the binary: it uses the library by name, never `crate::` of ours.
            if module == ["main"] {
                continue;
            }
            let is_parent = matches!(module.last().map(String::as_str), Some("mod" | "lib"));
            if is_parent {
                module.pop();
            }
            out.push(File {
                path: format!("src/{}", rel.display()),
                module,
                is_parent,
                text: std::fs::read_to_string(&p).expect("readable"),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a path that may end in a `{...}` group into plain paths, each cut at its first
/// segment after the prefix (enough to name the module it reaches).
fn expand(prefix: &[String], rest: &str, out: &mut Vec<Vec<String>>) {
    let mut segs = prefix.to_vec();
    let mut s = rest;
    loop {
        let ident: String = s.chars().take_while(|c| is_ident(*c)).collect();
        if !ident.is_empty() {
            segs.push(ident.clone());
            s = &s[ident.len()..];
            match s.strip_prefix("::") {
                Some(after) => s = after,
                None => break,
            }
            continue;
        }
        if let Some(inner) = s.strip_prefix('{') {
            // Split the group at its top-level commas.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        expand(&segs, inner[start..i].trim(), out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&segs, inner[start..i].trim(), out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        break;
    }
    if segs.len() > prefix.len() {
        out.push(segs);
    }
}

/// Every path the file names, with the line it starts on: `crate::a::b`, `super::x`, and
/// `child::x` for its own `mod child;`.
fn paths(file: &File, with_tests: bool) -> Vec<(usize, Vec<String>)> {
    // Unit tests reach across their module's files for shared helpers; they are not part of
    // the program's structure, so the circle check leaves them out (the layers still apply).
    let text = if with_tests {
        file.text.as_str()
    } else {
        file.text.split("#[cfg(test)]").next().unwrap_or_default()
    };
    // Comment lines say things like "crate::x" in prose; they import nothing.
    let code: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect();
    let mut roots = vec!["crate".to_string(), "super".to_string()];
    roots.extend(children.iter().cloned());
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for root in &roots {
        let needle = format!("{root}::");
        let mut from = 0;
        while let Some(at) = code[from..].find(&needle) {
            let start = from + at;
            from = start + needle.len();
            // A whole path only: not the tail of `foo_crate::` or `a::crate::`.
            if start > 0 {
                let before = bytes[start - 1] as char;
                if is_ident(before) || before == ':' {
                    continue;
                }
            }
            let line = code[..start].matches('\n').count() + 1;
            let mut prefix = vec![root.clone()];
            let mut rest = &code[from..];
            // `super::super::x`
            while let Some(r) = rest.strip_prefix("super::") {
                prefix.push("super".into());
                rest = r;
            }
            let mut found = Vec::new();
            expand(&prefix, rest, &mut found);
            out.extend(found.into_iter().map(|p| (line, p)));
        }
    }
    out
}

/// The module path a written path lands in, relative to the file it is written in.
fn absolute(file: &File, path: &[String]) -> Vec<String> {
    let mut base = file.module.clone();
    let mut segs = path.iter();
    match segs.next().map(String::as_str) {
        Some("crate") => base.clear(),
        Some("super") => {
            base.pop();
        }
        Some(child) => base.push(child.to_string()),
        None => {}
    }
    for s in segs {
        if s == "super" {
            base.pop();
        } else {
            base.push(s.clone());
        }
    }
    base
}

/// The file holding the longest prefix of `module`, if it is one of ours.
fn resolve(by_module: &BTreeMap<Vec<String>, usize>, module: &[String]) -> Option<usize> {
    (1..=module.len())
        .rev()
        .find_map(|n| by_module.get(&module[..n]).copied())
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// (file index, line, target file index) for every import of one of our files.
fn edges(files: &[File], with_tests: bool) -> Vec<(usize, usize, usize)> {
    let by_module: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if !with_tests && f.module.iter().any(|m| m == "tests") {
            continue;
        }
        for (line, p) in paths(f, with_tests) {
            let abs = absolute(f, &p);
            // `crate::_rust_i18n_...` and other items the crate root's macros generate.
            if abs.is_empty() || resolve(&by_module, &abs).is_none() {
                continue;
            }
            if let Some(t) = resolve(&by_module, &abs) {
                let test_only = files[t].module.iter().any(|m| m == "tests");
                if t != i && !files[t].module.is_empty() && (with_tests || !test_only) {
                    out.push((i, line, t));
                }
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    for f in files() {
        if let Some(top) = f.module.first() {
            assert!(
                layer(top).is_some(),
                "{}: module `{top}` has no layer in tests/it/layers.rs (and ARCHITECTURE.md)",
                f.path
            );
        }
    }
}

#[test]
fn layers_point_one_way() {
    let files = files();
    let mut wrong = Vec::new();
    for (i, line, t) in edges(&files, true) {
        let (from, to) = (&files[i].module, &files[t].module);
        let (Some(a), Some(b)) = (from.first(), to.first()) else {
            continue;
        };
        if a == b {
            continue;
        }
        let (la, lb) = (layer(a).unwrap_or(u8::MAX), layer(b).unwrap_or(u8::MAX));
        if lb >= la {
            let how = if lb == la { "sideways" } else { "up" };
            wrong.push(format!(
                "{}:{line}: `{a}` (layer {la}) imports `{}` (layer {lb}): points {how}",
                files[i].path,
                to.join("::")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circle_of_files() {
    let files = files();
    // A parent module declares and re-exports its own children; those edges are how Rust
    // builds a module, not an import, so they are left out. Everything else counts.
    let mut graph: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut lines: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (i, line, t) in edges(&files, false) {
        let (from, to) = (&files[i], &files[t]);
        let own_child = from.is_parent
            && to.module.len() == from.module.len() + 1
            && to.module.starts_with(&from.module);
        if own_child {
            continue;
        }
        graph.entry(i).or_default().insert(t);
        lines.entry((i, t)).or_insert(line);
    }
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        n: usize,
        graph: &BTreeMap<usize, BTreeSet<usize>>,
        state: &mut BTreeMap<usize, u8>,
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state.insert(n, 1);
        stack.push(n);
        for &m in graph.get(&n).into_iter().flatten() {
            match state.get(&m) {
                Some(1) => {
                    let at = stack.iter().position(|x| *x == m).unwrap_or(0);
                    let mut circle = stack[at..].to_vec();
                    circle.push(m);
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in 0..files.len() {
        if state.contains_key(&n) {
            continue;
        }
        if let Some(circle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            let steps: Vec<String> = circle
                .windows(2)
                .map(|w| format!("{}:{}", files[w[0]].path, lines[&(w[0], w[1])]))
                .collect();
            panic!(
                "a circle of files: {} -> {}",
                steps.join(" -> "),
                files[circle[circle.len() - 1]].path
            );
        }
    }
}

#[test]
fn the_reader_finds_imports() {
    // The checks above are only as good as the reader; a known import must be seen.
    let files = files();
    let edges = edges(&files, true);
    let find = |from: &str, to: &str| {
        edges
            .iter()
            .any(|(i, _, t)| files[*i].path == from && files[*t].path == to)
    };
    assert!(find("src/engine/ctx.rs", "src/store/mod.rs"));
    assert!(find("src/scheduler/jobs.rs", "src/engine/notices/mod.rs"));
    assert!(find("src/discord/send.rs", "src/outbox.rs"));
}
