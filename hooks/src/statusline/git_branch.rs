//! The git branch of a directory, read from `.git/HEAD` directly: no git
//! binary (a subprocess would cost more than the whole statusline).

use std::path::{Path, PathBuf};

/// How many parent directories are searched for `.git`.
const MAX_ASCENT: usize = 64;

/// The branch checked out in the repository containing `dir`, or the short
/// hash of a detached HEAD; `None` outside a repository.
pub fn branch(dir: &Path) -> Option<String> {
    let git_dir = find_git_dir(dir)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    if let Some(reference) = head.strip_prefix("ref:") {
        let reference = reference.trim();
        return Some(
            reference
                .strip_prefix("refs/heads/")
                .unwrap_or(reference)
                .to_string(),
        );
    }
    let is_hash = head.len() >= 7 && head.bytes().all(|b| b.is_ascii_hexdigit());
    is_hash.then(|| head[..7].to_string())
}

/// The repository's git directory: `.git` itself, or for worktrees and
/// submodules the directory a `.git` file points to (`gitdir: PATH`).
fn find_git_dir(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors().take(MAX_ASCENT) {
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Some(dot_git);
        }
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
        return Some(dir.join(target));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("llm-bridge-git-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_branch_from_a_subdirectory() {
        let repo = tmp("branch");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::create_dir_all(repo.join("src/deep")).unwrap();
        fs::write(repo.join(".git/HEAD"), "ref: refs/heads/feature/x\n").unwrap();
        assert_eq!(branch(&repo.join("src/deep")).as_deref(), Some("feature/x"));
        fs::remove_dir_all(repo).unwrap();
    }

    #[test]
    fn a_detached_head_shows_the_short_hash() {
        let repo = tmp("detached");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::write(
            repo.join(".git/HEAD"),
            "3f2a9c1d0e4b5a6978877665544332211ffeeddc\n",
        )
        .unwrap();
        assert_eq!(branch(&repo).as_deref(), Some("3f2a9c1"));
        fs::remove_dir_all(repo).unwrap();
    }

    #[test]
    fn worktrees_and_submodules_follow_the_git_file() {
        let root = tmp("worktree");
        let main_git = root.join("main/.git/worktrees/wt");
        fs::create_dir_all(&main_git).unwrap();
        fs::write(main_git.join("HEAD"), "ref: refs/heads/wt-branch\n").unwrap();
        fs::create_dir_all(root.join("wt")).unwrap();
        // Absolute path, as `git worktree add` writes it.
        fs::write(
            root.join("wt/.git"),
            format!("gitdir: {}\n", main_git.display()),
        )
        .unwrap();
        assert_eq!(branch(&root.join("wt")).as_deref(), Some("wt-branch"));
        // Relative path, as submodules write it.
        let module_git = root.join("main/.git/modules/sub");
        fs::create_dir_all(&module_git).unwrap();
        fs::write(module_git.join("HEAD"), "ref: refs/heads/sub-main\n").unwrap();
        fs::create_dir_all(root.join("main/sub")).unwrap();
        fs::write(root.join("main/sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
        assert_eq!(branch(&root.join("main/sub")).as_deref(), Some("sub-main"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn outside_a_repository_there_is_none() {
        // Nothing on the way up from /proc has a .git.
        assert_eq!(branch(Path::new("/proc/self/fdinfo")), None);
        let dir = tmp("none");
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join(".git/HEAD"), "garbage").unwrap();
        assert_eq!(branch(&dir), None);
        fs::remove_dir_all(dir).unwrap();
    }
}
