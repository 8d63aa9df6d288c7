//! The small things a first hour runs into: every command's `--help` has an
//! example, plain `llm-bridge config` says where the file is and whether it
//! exists, and `status` does not name a config file that is not there.

use crate::support::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_commands_help_has_an_example() {
    let env = Env::new();
    let commands = [
        "daemon",
        "start",
        "stop",
        "status",
        "reload",
        "waybar",
        "install",
        "uninstall",
        "config",
        "doctor",
        "say",
        "mute",
        "history",
    ];
    let top = env.bridge(&["--help"]);
    let listed = stdout(&top);
    assert!(listed.contains("Examples:"), "{listed}");
    for command in commands {
        assert!(
            listed.contains(&format!("  {command} ")),
            "{command} in:\n{listed}"
        );
        let out = env.bridge(&[command, "--help"]);
        assert!(out.status.success(), "{command}: {out:?}");
        let help = stdout(&out);
        assert!(help.contains("Example"), "{command} --help:\n{help}");
        assert!(
            help.contains(&format!("llm-bridge {command}")),
            "{command} --help:\n{help}"
        );
    }
}

#[test]
fn plain_config_says_where_the_file_is_and_whether_it_exists() {
    let env = Env::new();
    let path = env.runtime().join("config.toml");
    let out = env.bridge(&["config"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "config: {} (does not exist: the defaults apply; `llm-bridge config --default` prints them)\n",
            path.display()
        )
    );
    env.write_config("signal = 9\n");
    let out = env.bridge(&["config"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("config: {} (exists, valid)\n", path.display())
    );
    env.write_config("signal = 99\n");
    let out = env.bridge(&["config"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("config: {} (exists)\n", path.display())
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let out = env.bridge(&["config", "--default"]);
    assert!(stdout(&out).starts_with("# llm-bridge configuration"));
}

#[test]
fn status_says_none_for_a_config_file_that_does_not_exist() {
    let env = Env::new();
    let daemon = env.daemon();
    let out = env.bridge(&["status"]);
    assert!(
        stdout(&out).contains("\nconfig: none (defaults)\n"),
        "{out:?}"
    );
    drop(daemon);
    env.write_config("signal = 9\n");
    let _daemon = env.daemon();
    let out = env.bridge(&["status"]);
    let want = format!(
        "\nconfig: {}\n",
        env.runtime().join("config.toml").display()
    );
    assert!(stdout(&out).contains(&want), "{out:?}");
}
