//! `llm-bridge install --waybar [--write]`: the `custom/llm` module put in
//! the user's Waybar config, a JSONC file (comments, trailing commas) that
//! is often a symlink into a dotfiles repository.
//!
//! The edit is the settings merge's: the text is read through
//! [`jsonc::blank_jsonc`] (comments and trailing commas become spaces, so
//! every offset stays), its values located by [`json_text`], and only two
//! insertions are made in the user's text: the module's member at the end
//! of the bar, unless the bar has one, and `"custom/llm"` at the end of
//! `modules-right` (the member added if there is none), unless a
//! `modules-*` list of the bar names it already. Everything else stays byte
//! for byte; `settings_file` replaces the file through its links, with its
//! mode and a backup. A config that is an array of bars gets the module in
//! the first bar, or in the one `--bar NAME` names. `uninstall --waybar`
//! takes out exactly that ([`remove_module`]).

use super::json_text::{self, Edits, Kind, Layout, Node, Style};
use super::jsonc;
use super::settings_file::SettingsFile;
use llm_bridge_core::error::{Error, Result};
use serde_json::Value;
use std::path::PathBuf;

/// The module's name in Waybar's config.
const MODULE: &str = "custom/llm";

/// What `install --waybar` was asked to do.
pub struct WaybarOptions {
    /// Change the file instead of printing what would change.
    pub write: bool,
    /// The config file (default: the first in Waybar's search order).
    pub config: Option<PathBuf>,
    /// The bar to put the module in, by its `name` (default: the first).
    pub bar: Option<String>,
}

/// What the edit did to the text.
#[derive(Debug, PartialEq, Eq)]
pub struct Added {
    pub text: String,
    /// The module's member was added (else the bar had one: kept).
    pub module: bool,
    /// `"custom/llm"` was added to `modules-right` (else a list had it).
    pub listed: bool,
}

/// Runs `llm-bridge install --waybar`; `module` is the module as
/// `llm-bridge install` prints it (for the binaries in use).
pub fn run(options: &WaybarOptions, module: &str, css: &str) -> Result<i32> {
    let path = find_config(options).ok_or_else(|| {
        Error::msg(
            "no Waybar config found (looked in $XDG_CONFIG_HOME/waybar, ~/.config/waybar, \
             /etc/xdg/waybar): pass --waybar-config PATH",
        )
    })?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if options.config.is_none() && !home.is_some_and(|h| path.starts_with(h)) {
        // The system's default (/etc/xdg/waybar): not the user's to edit.
        return Err(Error::msg(format!(
            "the Waybar config in use is the system's {}: copy it to ~/.config/waybar/ first \
             (mkdir -p ~/.config/waybar && cp {} ~/.config/waybar/), then run this again",
            path.display(),
            path.display()
        )));
    }
    let file = SettingsFile::open(&path)?;
    let Some(current) = &file.current else {
        return Err(Error::msg(format!(
            "{} does not exist: pass the Waybar config in use with --waybar-config PATH",
            file.describe()
        )));
    };
    let added = add_module(
        &file.describe(),
        &current.text,
        module,
        options.bar.as_deref(),
    )?;
    let shown = file.describe();
    if !added.module && !added.listed {
        println!("{shown} already has the {MODULE} module in a modules-* list: unchanged");
    } else if options.write {
        let backup = file.replace(&added.text)?;
        println!(
            "updated {shown}{}: {}",
            backup.map_or(String::new(), |b| format!(
                " (previous version: {})",
                b.display()
            )),
            what_changed(&added)
        );
        println!("reload Waybar to show it: killall -SIGUSR2 waybar");
    } else {
        println!(
            "`llm-bridge install --waybar --write` would change {shown}: {}",
            what_changed(&added)
        );
        if added.module {
            println!("{module}");
        }
    }
    let style = path.with_file_name("style.css");
    println!();
    println!(
        "/* Waybar {}: one class per state (not written by llm-bridge) */",
        style.display()
    );
    println!("{css}");
    Ok(0)
}

fn what_changed(added: &Added) -> String {
    match (added.module, added.listed) {
        (true, true) => format!("added the {MODULE} module and put it at the end of modules-right"),
        (true, false) => format!("added the {MODULE} module (a modules-* list already names it)"),
        (false, _) => format!("kept your {MODULE} module and put it at the end of modules-right"),
    }
}

/// Adds `module` (the `"custom/llm": {…}` member as `llm-bridge install`
/// prints it) to a bar of the Waybar config `text` and lists it (see the
/// module's doc); `name` names the file in errors.
pub fn add_module(name: &str, text: &str, module: &str, bar: Option<&str>) -> Result<Added> {
    let module_value: Value = serde_json::from_str(&format!("{{{module}}}"))
        .map_err(|e| Error::msg(format!("internal error: the module snippet: {e}")))?;
    let text = if text.trim().is_empty() { "{}\n" } else { text };
    let (plain, config) = read(name, text)?;
    let root = json_text::parse(&plain)?;
    let (node, value) = pick_bar(name, &root, &config, bar)?;
    let mut style = Style::of(&plain, node);
    // A bar inside an array: one indent level is what its members add to
    // the bar's own line.
    if let Kind::Object(members) = &node.kind {
        if let Some(first) = members.first() {
            let outer = json_text::line_indent(&plain, node.span.start);
            let inner = json_text::line_indent(&plain, first.key_span.start);
            if let Some(unit) = inner.strip_prefix(outer).filter(|u| !u.is_empty()) {
                style.unit = unit.to_string();
            }
        }
    }
    let layout = Layout::of(&plain, node, &style);
    let mut edits = Edits::default();
    let mut members = Vec::new();

    let has_module = node.member(MODULE).is_some();
    if !has_module {
        members.push(match layout.item_indent() {
            Some(indent) => reindent(module, indent, &style),
            None => style.render_member(MODULE, &module_value[MODULE], None),
        });
    }
    let listed = lists_module(value);
    if !listed {
        match node.member("modules-right") {
            None => {
                members.push(style.render_member("modules-right", &[MODULE], layout.item_indent()));
            }
            Some(right) => {
                if !matches!(right.value.kind, Kind::Array(_)) {
                    return Err(Error::msg(format!(
                        "{name}: \"modules-right\" is not a list; nothing was changed"
                    )));
                }
                let keep = vec![true; right.value.items().len()];
                let item = serde_json::to_string(MODULE).expect("a string serializes");
                edits.edit_list(&plain, &right.value, &keep, &[item], &style);
            }
        }
    }
    if !members.is_empty() {
        let keep = vec![true; node.items().len()];
        edits.edit_list(&plain, node, &keep, &members, &style);
    }
    let edited = edits.apply(text);
    // A last guard: never write what Waybar would not read, or a bar
    // without the module listed.
    let read_back: Option<Value> = serde_json::from_str(&jsonc::blank_jsonc(&edited)).ok();
    let complete = read_back.as_ref().is_some_and(|config| {
        let bars: Vec<&Value> = match config {
            Value::Array(bars) => bars.iter().collect(),
            bar => vec![bar],
        };
        bars.iter()
            .any(|b| b.get(MODULE).is_some() && lists_module(b))
    });
    if !complete {
        return Err(Error::msg(format!(
            "internal error: adding the module to {name} gave a config Waybar would not read; \
             nothing was changed"
        )));
    }
    Ok(Added {
        text: edited,
        module: !has_module,
        listed: !listed,
    })
}

/// The module's text, written with two spaces per level as README shows
/// it (keys in that order), for a member line indented by `indent`, one
/// level being the file's own unit.
fn reindent(module: &str, indent: &str, style: &Style) -> String {
    let mut out = String::new();
    for (i, line) in module.lines().enumerate() {
        if i > 0 {
            out.push_str(style.newline);
            out.push_str(indent);
        }
        let trimmed = line.trim_start_matches(' ');
        out.push_str(&style.unit.repeat((line.len() - trimmed.len()) / 2));
        out.push_str(trimmed);
    }
    out
}

/// The config as Waybar reads it: the text with its comments and trailing
/// commas blanked (offsets kept), and its value.
fn read(name: &str, text: &str) -> Result<(String, Value)> {
    let plain = jsonc::blank_jsonc(text);
    let config = serde_json::from_str(&plain).map_err(|e| {
        Error::msg(format!(
            "{name} is not JSON with comments ({e}); nothing was changed"
        ))
    })?;
    Ok((plain, config))
}

/// The Waybar config in use: `--waybar-config`, else the first in Waybar's
/// search order.
fn find_config(options: &WaybarOptions) -> Option<PathBuf> {
    options.config.clone().or_else(|| {
        crate::commands::doctor::waybar_config_candidates()
            .into_iter()
            .find(|p| p.exists())
    })
}

/// Whether a `modules-*` list of `bar` names the module.
pub(crate) fn lists_module(bar: &Value) -> bool {
    bar.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| {
            k.starts_with("modules-") && v.as_array().is_some_and(|l| l.iter().any(|m| m == MODULE))
        })
    })
}

/// The bar to edit: the config itself when it is one object, else the
/// array's bar named `bar` (its `"name"`) or its first.
fn pick_bar<'n, 'v>(
    name: &str,
    root: &'n Node,
    config: &'v Value,
    bar: Option<&str>,
) -> Result<(&'n Node, &'v Value)> {
    let named = |v: &Value| bar.is_none_or(|b| v.get("name").and_then(Value::as_str) == Some(b));
    let found = match (&root.kind, config) {
        (Kind::Object(_), Value::Object(_)) => named(config).then_some((root, config)),
        (Kind::Array(nodes), Value::Array(bars)) => nodes
            .iter()
            .zip(bars)
            .find(|(_, v)| v.is_object() && named(v)),
        _ => {
            return Err(Error::msg(format!(
                "{name} is neither a bar (an object) nor a list of bars; nothing was changed"
            )))
        }
    };
    found.ok_or_else(|| {
        Error::msg(match bar {
            Some(b) => format!("{name} has no bar with \"name\": \"{b}\"; nothing was changed"),
            None => format!("{name} has no bar (an object) in its list; nothing was changed"),
        })
    })
}

/// What `remove_module` took out.
#[derive(Debug, PartialEq, Eq)]
pub struct Removed {
    pub text: String,
    /// Bars whose module (ours) went.
    pub modules: usize,
    /// `"custom/llm"` entries taken out of `modules-*` lists.
    pub listed: usize,
}

/// Whether a `custom/llm` module is the one `install --waybar` writes (its
/// `exec` runs `llm-bridge-waybar` or `llm-bridge waybar`): a module of the
/// user's own is left alone.
fn is_ours(module: &Value) -> bool {
    let exec = module["exec"].as_str().unwrap_or_default().trim();
    let program = exec
        .strip_prefix('\'')
        .and_then(|e| e.split('\'').next())
        .or_else(|| exec.split_whitespace().next())
        .unwrap_or_default();
    program.ends_with("llm-bridge-waybar")
        || (program.ends_with("llm-bridge") && exec.split_whitespace().nth(1) == Some("waybar"))
}

/// Takes out of every bar of the Waybar config `text` what
/// [`add_module`] puts in: our `custom/llm` module and its entries in the
/// bar's `modules-*` lists (a list left empty goes too); every other byte
/// stays.
pub fn remove_module(name: &str, text: &str) -> Result<Removed> {
    let (plain, config) = read(name, text)?;
    let root = json_text::parse(&plain)?;
    let bars: Vec<(&Node, &Value)> = match (&root.kind, &config) {
        (Kind::Object(_), Value::Object(_)) => vec![(&root, &config)],
        (Kind::Array(nodes), Value::Array(values)) => nodes.iter().zip(values).collect(),
        _ => Vec::new(),
    };
    let mut edits = Edits::default();
    let (mut modules, mut listed) = (0, 0);
    for (node, value) in bars {
        let Kind::Object(members) = &node.kind else {
            continue;
        };
        if !value.get(MODULE).is_some_and(is_ours) {
            continue;
        }
        let style = Style::of(&plain, node);
        let mut keep: Vec<bool> = members.iter().map(|m| m.key != MODULE).collect();
        modules += 1;
        for (at, member) in members.iter().enumerate() {
            let Kind::Array(items) = &member.value.kind else {
                continue;
            };
            if !member.key.starts_with("modules-") {
                continue;
            }
            let item_keep: Vec<bool> = items
                .iter()
                .map(|item| {
                    serde_json::from_str::<Value>(item.text(&plain)).ok() != Some(MODULE.into())
                })
                .collect();
            listed += item_keep.iter().filter(|k| !**k).count();
            if !item_keep.contains(&true) && !item_keep.is_empty() {
                // A list of the module alone goes (as `add_module` makes
                // one); Waybar reads no list as an empty one.
                keep[at] = false;
            } else if item_keep.contains(&false) {
                edits.edit_list(&plain, &member.value, &item_keep, &[], &style);
            }
        }
        edits.edit_list(&plain, node, &keep, &[], &style);
    }
    if edits.is_empty() {
        return Ok(Removed {
            text: text.to_string(),
            modules,
            listed,
        });
    }
    let removed = edits.apply(text);
    if serde_json::from_str::<Value>(&jsonc::blank_jsonc(&removed)).is_err() {
        return Err(Error::msg(format!(
            "internal error: removing the module from {name} gave a config Waybar would not \
             read; nothing was changed"
        )));
    }
    Ok(Removed {
        text: removed,
        modules,
        listed,
    })
}

/// Runs `llm-bridge uninstall --waybar`.
pub fn uninstall(options: &WaybarOptions) -> Result<i32> {
    let path = find_config(options)
        .ok_or_else(|| Error::msg("no Waybar config found: nothing to remove"))?;
    let file = SettingsFile::open(&path)?;
    let shown = file.describe();
    let Some(current) = &file.current else {
        println!("{shown} does not exist: nothing to remove");
        return Ok(0);
    };
    let removed = remove_module(&shown, &current.text)?;
    if removed.modules == 0 {
        println!("{shown} has no {MODULE} module of llm-bridge's: unchanged");
        return Ok(0);
    }
    let what = format!(
        "the {MODULE} module ({} bar(s)) and {} modules-* entr{}",
        removed.modules,
        removed.listed,
        if removed.listed == 1 { "y" } else { "ies" }
    );
    if !options.write {
        println!("`llm-bridge uninstall --waybar --write` would remove {what} from {shown}");
        return Ok(0);
    }
    let backup = file.replace(&removed.text)?;
    println!(
        "removed {what} from {shown}{}",
        backup.map_or(String::new(), |b| format!(
            " (previous version: {})",
            b.display()
        ))
    );
    println!("reload Waybar: killall -SIGUSR2 waybar");
    Ok(0)
}

/// The module text as `llm-bridge install` prints it, for tests.
#[cfg(test)]
fn module() -> String {
    super::waybar_snippet(std::path::Path::new("/opt/bin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(text: &str, bar: Option<&str>) -> Added {
        add_module("config", text, &module(), bar).unwrap()
    }

    fn read(text: &str) -> Value {
        serde_json::from_str(&jsonc::blank_jsonc(text)).unwrap()
    }

    #[test]
    fn a_commented_config_gets_the_module_and_keeps_every_byte_of_its_own() {
        let text = "// my bar\n{\n    \"layer\": \"top\", // on top\n    \"modules-left\": [\"sway/workspaces\"],\n    \"modules-right\": [\"clock\", \"battery\",], /* trailing comma */\n    \"clock\": { \"format\": \"{:%H:%M}\" },\n}\n";
        let added = add(text, None);
        assert!(added.module && added.listed);
        let v = read(&added.text);
        assert_eq!(v["modules-right"][2], "custom/llm");
        assert_eq!(v["custom/llm"]["signal"], 8);
        assert_eq!(v["custom/llm"]["exec"], "/opt/bin/llm-bridge-waybar");
        // The user's text is all there, in its order: only insertions.
        let mut rest = added.text.as_str();
        for piece in [
            "// my bar\n{\n    \"layer\": \"top\", // on top\n",
            "\"modules-right\": [\"clock\", \"battery\"",
            "], /* trailing comma */\n    \"clock\": { \"format\": \"{:%H:%M}\" }",
            "\n}\n",
        ] {
            let at = rest
                .find(piece)
                .unwrap_or_else(|| panic!("{piece:?} in {}", added.text));
            rest = &rest[at + piece.len()..];
        }
        // Indented as the file is: four spaces.
        assert!(
            added
                .text
                .contains("\n    \"custom/llm\": {\n        \"exec\""),
            "{}",
            added.text
        );
        // A second run changes nothing.
        let again = add(&added.text, None);
        assert!(!again.module && !again.listed);
        assert_eq!(again.text, added.text);
    }

    #[test]
    fn a_listed_module_is_not_listed_twice_and_a_missing_list_is_made() {
        let text = "{\"modules-center\": [\"custom/llm\"]}";
        let added = add(text, None);
        assert!(added.module && !added.listed);
        assert_eq!(
            read(&added.text)["modules-center"],
            serde_json::json!(["custom/llm"])
        );
        assert!(read(&added.text).get("modules-right").is_none());

        let added = add("{\n  \"layer\": \"top\"\n}\n", None);
        assert_eq!(
            read(&added.text)["modules-right"],
            serde_json::json!(["custom/llm"])
        );
        // The user's own module stays as it is; only the list gains it.
        let text = "{\"custom/llm\": {\"exec\": \"mine\"}, \"modules-right\": []}";
        let added = add(text, None);
        assert!(!added.module && added.listed);
        assert_eq!(read(&added.text)["custom/llm"]["exec"], "mine");
        assert_eq!(
            read(&added.text)["modules-right"],
            serde_json::json!(["custom/llm"])
        );
    }

    #[test]
    fn in_a_list_of_bars_the_first_or_the_named_one() {
        let text = "[\n  {\n    \"name\": \"top\",\n    \"modules-right\": [\"clock\"]\n  },\n  {\n    \"name\": \"side\"\n  }\n]\n";
        let v = read(&add(text, None).text);
        assert_eq!(v[0]["modules-right"][1], "custom/llm");
        assert!(v[1].get("custom/llm").is_none());
        let added = add(text, Some("side"));
        let v = read(&added.text);
        assert!(v[0].get("custom/llm").is_none());
        assert_eq!(v[1]["modules-right"][0], "custom/llm");
        assert!(
            added
                .text
                .contains("\n    \"custom/llm\": {\n      \"exec\""),
            "{}",
            added.text
        );
        let e = add_module("config", text, &module(), Some("nope")).unwrap_err();
        assert!(
            e.to_string().contains("no bar with \"name\": \"nope\""),
            "{e}"
        );
    }

    #[test]
    fn removing_gives_back_the_users_text_byte_for_byte() {
        for text in [
            "// my bar\n{\n    \"layer\": \"top\", // on top\n    \"modules-right\": [\"clock\", \"battery\",],\n    \"clock\": { \"format\": \"{:%H:%M}\" },\n}\n",
            "{\n  \"layer\": \"top\"\n}\n",
            "[\n  {\n    \"name\": \"top\",\n    \"modules-right\": [\"clock\"]\n  },\n  {\n    \"name\": \"side\"\n  }\n]\n",
        ] {
            let added = add(text, None).text;
            let removed = remove_module("config", &added).unwrap();
            assert_eq!(removed.modules, 1);
            assert_eq!(removed.text, text, "added:\n{added}");
            let again = remove_module("config", &removed.text).unwrap();
            assert_eq!((again.modules, again.text.as_str()), (0, text));
        }
        // A module of the user's own, and its place in a list, stay.
        let mine =
            "{\"custom/llm\": {\"exec\": \"my-script\"}, \"modules-left\": [\"custom/llm\"]}";
        assert_eq!(remove_module("config", mine).unwrap().text, mine);
    }

    #[test]
    fn what_waybar_would_not_read_is_refused_untouched() {
        for (text, why) in [
            ("{\"a\": }", "not JSON with comments"),
            ("\"bar\"", "neither a bar"),
            ("{\"modules-right\": \"clock\"}", "not a list"),
        ] {
            let e = add_module("config", text, &module(), None).unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(e.to_string().contains("nothing was changed"), "{e}");
        }
    }
}
