//! The boundaries of the house, checked on the source: the AWS SDK only in
//! `src/aws/`, clap only in the command-line layer, no terminal crate in the
//! core, and no import circle between the top-level modules. Test code
//! (`#[cfg(test)]` modules, `tests.rs`) is exempt: it may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every source file under `src/` with its non-test code.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| p.file_name().unwrap() != "tests.rs")
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let rel = p.strip_prefix(&src).unwrap().display().to_string();
            (rel, code)
        })
        .collect()
}

/// The top-level module a file belongs to (`audit` for `audit/group.rs`).
fn module(rel: &str) -> &str {
    rel.split('/').next().unwrap().trim_end_matches(".rs")
}

/// Files (relative to `src/`) outside `allowed` that mention any of `words`.
fn offenders(words: &[&str], allowed: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(rel, _)| !allowed.iter().any(|a| rel == a || rel.starts_with(a)))
        .filter_map(|(rel, code)| {
            let found: Vec<_> = words.iter().filter(|w| code.contains(*w)).collect();
            (!found.is_empty()).then(|| format!("src/{rel}: {found:?}"))
        })
        .collect()
}

#[test]
fn the_aws_sdk_is_used_only_in_the_aws_module() {
    let found = offenders(&["aws_sdk_", "aws_config", "aws_smithy"], &["aws/"]);
    assert!(found.is_empty(), "SDK types outside src/aws/: {found:#?}");
}

#[test]
fn clap_is_used_only_in_the_command_line_layer() {
    let found = offenders(&["clap"], &["cli.rs", "cmd/", "main.rs"]);
    assert!(
        found.is_empty(),
        "clap outside the command line: {found:#?}"
    );
}

#[test]
fn the_core_knows_no_terminal() {
    let core = [
        "audit/",
        "input/",
        "pattern/",
        "provision/",
        "insights/",
        "iam.rs",
        "timearg.rs",
        "error.rs",
    ];
    let terminal = [
        "indicatif",
        "comfy_table",
        "IsTerminal",
        "is_terminal",
        "eprint",
    ];
    let found: Vec<_> = offenders(&terminal, &[])
        .into_iter()
        .filter(|f| core.iter().any(|c| f.starts_with(&format!("src/{c}"))))
        .collect();
    assert!(found.is_empty(), "terminal code in the core: {found:#?}");
}

/// The names that follow `prefix` in `code` (`crate::audit` gives `audit`).
fn names_after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    code.match_indices(prefix).map(move |(i, _)| {
        code[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    })
}

/// Panics naming the circle if some module of `deps` reaches itself.
fn assert_no_circle(deps: &BTreeMap<String, BTreeSet<String>>) {
    for start in deps.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in deps.get(&at).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                assert!(next != start, "import circle: {}", p.join(" -> "));
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, code) in sources() {
        let from = module(&rel).to_string();
        let entry = deps.entry(from.clone()).or_default();
        entry.extend(names_after(&code, "crate::").filter(|to| !to.is_empty() && *to != from));
    }
    assert!(deps.len() > 8, "modules found: {:?}", deps.keys());
    assert_no_circle(&deps);
}

#[test]
fn no_import_circle_inside_a_module() {
    let files = sources();
    let mut checked = 0;
    for dir in files
        .iter()
        .filter_map(|(rel, _)| rel.split_once('/').map(|(d, _)| d.to_string()))
        .collect::<BTreeSet<_>>()
    {
        let stem = |rel: &str| {
            rel.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string()
        };
        let siblings: BTreeSet<String> = files
            .iter()
            .filter(|(rel, _)| rel.starts_with(&format!("{dir}/")) && !rel.ends_with("/mod.rs"))
            .map(|(rel, _)| stem(rel))
            .collect();
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (rel, code) in files
            .iter()
            .filter(|(rel, _)| rel.starts_with(&format!("{dir}/")))
        {
            let from = stem(rel);
            if !siblings.contains(&from) {
                continue;
            }
            let inside = format!("crate::{dir}::");
            let to: BTreeSet<String> = names_after(code, "super::")
                .chain(names_after(code, &inside))
                .filter(|to| siblings.contains(to) && *to != from)
                .collect();
            deps.insert(from, to);
        }
        checked += deps.len();
        assert_no_circle(&deps);
    }
    assert!(checked > 20, "submodules checked: {checked}");
}

#[test]
fn diagnostics_go_through_the_one_reporter() {
    // Only the reporter (`-q`/`-v`) and main (errors) write to stderr.
    let found = offenders(
        &["eprintln!", "eprint!", "stderr()"],
        &["output/diag.rs", "output/progress.rs", "main.rs"],
    );
    assert!(
        found.is_empty(),
        "stderr written past the reporter: {found:#?}"
    );
}

/// Functions of more than 80 lines, by file and name, that do not say why
/// in their comment (a paragraph starting `Long:`).
fn long_functions_without_a_reason(sources: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, code) in sources {
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let signature = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            // A declaration without a body (its signature, however many
            // lines, ends in `;` before any `{`) has no length.
            let declaration = lines[i..]
                .iter()
                .map(|l| l.trim_end())
                .find(|l| l.ends_with(';') || l.ends_with('{'))
                .is_some_and(|l| l.ends_with(';'));
            if !signature || declaration {
                continue;
            }
            let close = format!("{indent}}}");
            let Some(len) = lines[i + 1..].iter().position(|l| *l == close) else {
                continue;
            };
            let comment = lines[..i]
                .iter()
                .rev()
                .take_while(|l| {
                    let t = l.trim_start();
                    t.starts_with("///") || t.starts_with("#[")
                })
                .any(|l| l.trim_start().starts_with("/// Long:"));
            if len + 2 > 80 && !comment {
                let name = trimmed.split('(').next().unwrap_or(trimmed);
                found.push(format!("src/{rel}: {name} ({} lines)", len + 2));
            }
        }
    }
    found
}

#[test]
fn no_function_over_80_lines_without_a_reason_in_its_comment() {
    let found = long_functions_without_a_reason(&sources());
    assert!(
        found.is_empty(),
        "split these or say why in a `/// Long:` paragraph: {found:#?}"
    );
    // The check itself finds a long function.
    let body = "    x();\n".repeat(90);
    let long = format!("/// Does much.\nfn big() {{\n{body}}}\n");
    assert_eq!(
        long_functions_without_a_reason(&[("x.rs".into(), long.clone())]),
        ["src/x.rs: fn big (92 lines)"]
    );
    let said = long.replace("/// Does much.", "/// Does much.\n///\n/// Long: a reason.");
    assert!(long_functions_without_a_reason(&[("x.rs".into(), said)]).is_empty());
}
