//! The git branch of a directory, read from `.git/HEAD` directly: no git
//! binary (a subprocess would cost more than the whole statusline).
//!
//! The statusline's output goes straight into Claude Code's terminal, and
//! the directory it looks in may hold anything, so the lookup is guarded as
//! git's own is (CVE-2022-24765): it never climbs into a directory another
//! user owns, never follows a symlink to `.git` or `HEAD`, opens files
//! without blocking (a FIFO cannot hang it), reads only regular files and at
//! most `MAX_READ` (4 KiB) bytes of them, and shows no branch whose name holds a
//! control character (git allows none; one there is an attack on the
//! terminal).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How many parent directories are searched for `.git`.
const MAX_ASCENT: usize = 64;
/// The most read of `HEAD` or of a `.git` file.
const MAX_READ: u64 = 4096;

/// The branch checked out in the repository containing `dir`, or the short
/// hash of a detached HEAD; `None` outside a repository (or one that is not
/// this user's, or a HEAD that is not a small regular file).
pub fn branch(dir: &Path) -> Option<String> {
    // SAFETY: geteuid cannot fail.
    branch_as(dir, unsafe { libc::geteuid() })
}

fn branch_as(dir: &Path, uid: u32) -> Option<String> {
    let git_dir = find_git_dir(dir, uid)?;
    let head = read_small(&git_dir.join("HEAD"))?;
    let head = head.trim();
    let name = if let Some(reference) = head.strip_prefix("ref:") {
        let reference = reference.trim();
        reference
            .strip_prefix("refs/heads/")
            .unwrap_or(reference)
            .to_string()
    } else {
        let is_hash = head.len() >= 7 && head.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hash {
            return None;
        }
        head[..7].to_string()
    };
    (!name.is_empty() && !name.chars().any(char::is_control)).then_some(name)
}

/// The repository's git directory: `.git` itself, or for worktrees and
/// submodules the directory a `.git` file points to (`gitdir: PATH`).
/// Stops at the first directory `uid` does not own.
fn find_git_dir(start: &Path, uid: u32) -> Option<PathBuf> {
    for dir in start.ancestors().take(MAX_ASCENT) {
        let owner = std::fs::metadata(dir).ok()?.uid();
        if owner != uid {
            return None;
        }
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Some(dot_git);
        }
        let text = read_small(&dot_git)?;
        let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
        return Some(dir.join(target));
    }
    None
}

/// A regular file's first [`MAX_READ`] bytes, as text: never a link, never
/// a FIFO or a device, never waiting.
fn read_small(path: &Path) -> Option<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    File::take(file, MAX_READ).read_to_string(&mut text).ok()?;
    Some(text)
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

    #[test]
    fn hostile_heads_show_no_branch_and_never_hang() {
        let root = tmp("hostile");
        let git = root.join(".git");
        fs::create_dir_all(&git).unwrap();
        // A control sequence for the terminal in the branch name.
        fs::write(git.join("HEAD"), "ref: refs/heads/x\x1b]0;pwned\x07\n").unwrap();
        assert_eq!(branch(&root), None);
        // A link to a device, and a huge file: nothing read beyond 4 KiB.
        fs::remove_file(git.join("HEAD")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", git.join("HEAD")).unwrap();
        assert_eq!(branch(&root), None);
        fs::remove_file(git.join("HEAD")).unwrap();
        fs::write(
            git.join("HEAD"),
            "ref: refs/heads/".to_string() + &"a".repeat(1 << 20),
        )
        .unwrap();
        assert_eq!(branch(&root).map(|b| b.len()), Some(4096 - 16));
        // A FIFO: answered at once, from another thread so that a hang fails.
        fs::remove_file(git.join("HEAD")).unwrap();
        let fifo = std::ffi::CString::new(git.join("HEAD").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and mode.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = root.clone();
        std::thread::spawn(move || tx.send(branch(&dir)).unwrap());
        let answer = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(answer, Ok(None), "a FIFO at .git/HEAD hung the lookup");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_directory_of_another_user_ends_the_search() {
        let root = tmp("foreign");
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        assert_eq!(branch_as(&root, me).as_deref(), Some("main"));
        // As seen by another user, this directory is not theirs.
        assert_eq!(branch_as(&root, me + 1), None);
        fs::remove_dir_all(&root).unwrap();
    }
}
