//! Builds the pinned espeak-ng from `upstream/` with the C compiler alone (no
//! cmake, no bindgen), then compiles its data (phoneme tables, intonations and
//! every language's dictionary) with that library, as espeak-ng's own build
//! does, and writes `data.rs`: the data files as `include_bytes!` entries, so
//! that the library and its data always come from the same source.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The library's sources: espeak-ng's `src/libespeak-ng/CMakeLists.txt` without
/// the asynchronous API, Klatt, speechPlayer and MBROLA, which phonemization
/// never uses.
const LIB_SOURCES: &[&str] = &[
    "common.c",
    "mnemonics.c",
    "error.c",
    "ieee80.c",
    "compiledata.c",
    "compiledict.c",
    "dictionary.c",
    "encoding.c",
    "intonation.c",
    "langopts.c",
    "numbers.c",
    "phoneme.c",
    "phonemelist.c",
    "readclause.c",
    "setlengths.c",
    "soundicon.c",
    "spect.c",
    "ssml.c",
    "synthdata.c",
    "synthesize.c",
    "tr_languages.c",
    "translate.c",
    "translateword.c",
    "voices.c",
    "wavegen.c",
    "speech.c",
    "espeak_api.c",
];

const UCD_SOURCES: &[&str] = &[
    "case.c",
    "categories.c",
    "ctype.c",
    "proplist.c",
    "scripts.c",
    "tostring.c",
];

/// The dictionaries espeak-ng's `cmake/data.cmake` compiles.
const DICTIONARIES: &[&str] = &[
    "af", "am", "an", "ar", "as", "az", "ba", "be", "bg", "bn", "bpy", "bs", "ca", "chr", "cmn",
    "cs", "cv", "cy", "da", "de", "el", "en", "eo", "es", "et", "eu", "fa", "fi", "fr", "ga", "gd",
    "gn", "grc", "gu", "hak", "haw", "he", "hi", "hr", "ht", "hu", "hy", "ia", "id", "io", "is",
    "it", "ja", "jbo", "ka", "kk", "kl", "kn", "kok", "ko", "ku", "ky", "la", "lb", "lfn", "lt",
    "lv", "mi", "mk", "ml", "mr", "ms", "mto", "mt", "my", "nci", "ne", "nl", "nog", "no", "om",
    "or", "pap", "pa", "piqd", "pl", "pt", "py", "qdb", "quc", "qu", "qya", "ro", "ru", "sd",
    "shn", "si", "sjn", "sk", "sl", "smj", "sq", "sr", "sv", "sw", "ta", "te", "ti", "th", "tk",
    "tn", "tr", "tt", "ug", "uk", "ur", "uz", "vi", "yue",
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let upstream = manifest.join("upstream");
    println!("cargo:rerun-if-changed=upstream");
    println!("cargo:rerun-if-changed=build/compile_data.c");

    let version = project_version(&upstream.join("CMakeLists.txt"));
    let include = out.join("include");
    fs::create_dir_all(&include).expect("create OUT_DIR/include");
    fs::write(
        include.join("config.h"),
        format!(
            "#define HAVE_MKSTEMP 1\n#define USE_ASYNC 0\n#define USE_KLATT 0\n\
             #define USE_LIBPCAUDIO 0\n#define USE_LIBSONIC 0\n#define USE_MBROLA 0\n\
             #define USE_SPEECHPLAYER 0\n#define PACKAGE_VERSION \"{version}\"\n"
        ),
    )
    .expect("write config.h");

    let lib_dir = upstream.join("src/libespeak-ng");
    let ucd_dir = upstream.join("src/ucd-tools/src");
    let mut build = cc::Build::new();
    build
        .include(&include)
        .include(upstream.join("src/include"))
        .include(ucd_dir.join("include"))
        .define("LIBESPEAK_NG_EXPORT", "1")
        // No data directory is compiled in: the caller always passes one.
        .define("PATH_ESPEAK_DATA", "\"/nonexistent/espeak-ng-data\"")
        .flag_if_supported("-fwrapv")
        .flag_if_supported("-fno-exceptions")
        // Upstream's code, built as upstream builds it; its warnings are not ours.
        .warnings(false)
        .flag_if_supported("-w");
    for f in LIB_SOURCES {
        build.file(lib_dir.join(f));
    }
    for f in UCD_SOURCES {
        build.file(ucd_dir.join(f));
    }
    build.compile("espeak-ng");

    let compiler = build.get_compiler();
    let tool = out.join("compile_data");
    let status = compiler
        .to_command()
        .arg(manifest.join("build/compile_data.c"))
        .arg("-I")
        .arg(upstream.join("src/include"))
        .arg("-L")
        .arg(&out)
        .arg("-lespeak-ng")
        .arg("-lm")
        .arg("-o")
        .arg(&tool)
        .status()
        .expect("run the C compiler for compile_data");
    assert!(status.success(), "compiling build/compile_data.c failed");

    let root = out.join("data");
    let data = root.join("espeak-ng-data");
    if root.exists() {
        fs::remove_dir_all(&root).expect("remove the old data");
    }
    fs::create_dir_all(data.join("voices")).expect("create the data directory");
    copy_tree(&upstream.join("espeak-ng-data/lang"), &data.join("lang"));
    copy_tree(
        &upstream.join("espeak-ng-data/voices/!v"),
        &data.join("voices/!v"),
    );
    run(Command::new(&tool)
        .arg("phonemes")
        .arg(&root)
        .arg(upstream.join("phsource")));
    compile_dictionaries(
        &tool,
        &root,
        &upstream.join("dictsource"),
        &out.join("dictwork"),
    );
    // The compiler's listing of the phoneme data is for people, not for the library.
    let _ = fs::remove_file(data.join("phondata-manifest"));

    write_data_rs(&data, &out.join("data.rs"), &version);
}

/// `project(espeak-ng VERSION x.y.z ...)` in upstream's CMakeLists.txt.
fn project_version(cmake: &Path) -> String {
    let text = fs::read_to_string(cmake).expect("read upstream/CMakeLists.txt");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("VERSION "))
        .map(|v| v.trim().to_string())
        .expect("upstream/CMakeLists.txt names its VERSION")
}

/// Compiles every dictionary from only the files upstream's build gives it
/// (`_rules`, `_list`, `_listx`, `_emoji`), one per core at a time.
fn compile_dictionaries(tool: &Path, root: &Path, source: &Path, work: &Path) {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(lang) = DICTIONARIES.get(i) else {
                    return;
                };
                let dir = work.join(lang);
                fs::create_dir_all(&dir).expect("create a dictionary work directory");
                for part in ["rules", "list", "listx", "emoji"] {
                    let name = format!("{lang}_{part}");
                    // An extended word list (`extra/`, for cmn, ru and yue)
                    // is used when present, as upstream's EXTRA_<lang>
                    // option does by default and as Piper's data is built.
                    let extra = source.join("extra").join(&name);
                    let from = if extra.exists() {
                        extra
                    } else {
                        source.join(&name)
                    };
                    if from.exists() {
                        fs::copy(&from, dir.join(&name)).expect("copy a dictionary source");
                    }
                }
                let mut prefix = dir.into_os_string();
                prefix.push("/");
                let output = Command::new(tool)
                    .arg("dict")
                    .arg(root)
                    .arg(lang)
                    .arg(&prefix)
                    .output()
                    .expect("run compile_data");
                if !output.status.success() {
                    failures.lock().unwrap().push(format!(
                        "{lang}: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "dictionaries failed to compile: {failures:?}"
    );
}

fn run(cmd: &mut Command) {
    let output = cmd.output().expect("run compile_data");
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a data directory");
    for entry in fs::read_dir(from).expect("read a data directory") {
        let entry = entry.expect("read a data directory entry");
        let path = entry.path();
        if entry.file_type().expect("stat a data file").is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).expect("copy a data file");
        }
    }
}

/// Every file under `data`, relative to it, in a stable order.
fn list(data: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read the compiled data")
        .map(|e| e.expect("read the compiled data").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            list(data, &path, files);
        } else {
            files.push(path.strip_prefix(data).expect("under data").to_path_buf());
        }
    }
}

/// Writes the table of embedded files and a digest of their contents, which
/// names the directory they are unpacked into.
fn write_data_rs(data: &Path, dest: &Path, version: &str) {
    let mut files = Vec::new();
    list(data, data, &mut files);
    // FNV-1a over names and contents: stable across builds and toolchains.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut table = String::new();
    for rel in &files {
        let name = rel.to_str().expect("data file names are ASCII");
        feed(name.as_bytes());
        feed(&[0]);
        feed(&fs::read(data.join(rel)).expect("read a compiled data file"));
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            data.join(rel).to_str().expect("OUT_DIR is UTF-8")
        )
        .unwrap();
    }
    let text = format!(
        "/// espeak-ng's version, as its build names it.\n\
         pub const VERSION: &str = {version:?};\n\
         /// A digest of the embedded data (FNV-1a over names and contents).\n\
         pub const DIGEST: u64 = {hash:#018x};\n\
         /// Every file of `espeak-ng-data/`, by its path inside it.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n{table}];\n"
    );
    fs::write(dest, text).expect("write data.rs");
}
