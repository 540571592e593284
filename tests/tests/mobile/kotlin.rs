//! Builds the Kotlin side once per test run: the host library cargo built
//! for this test binary, bindings generated from it, the bindings and the
//! test programs compiled by kotlinc into jars cached by content hash (kotlinc
//! takes seconds per call), then `java` with JNA runs them.
//!
//! Needs `scripts/install-test-tools` (kotlinc from npm, JNA from Debian) and
//! a JDK; a missing tool fails the test with the command to fix it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const JNA: &str = "/usr/share/java/jna.jar";

pub struct Kotlin {
    /// Holds `libfieldsync_ffi.so` (the name JNA looks for).
    lib_dir: PathBuf,
    classpath: String,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn compiler_lib() -> PathBuf {
    workspace().join("tools/kotlin/node_modules/kotlin-compiler/lib")
}

fn hash_files(files: &[PathBuf], seed: &str) -> String {
    let mut h = DefaultHasher::new();
    seed.hash(&mut h);
    for f in files {
        std::fs::read(f).unwrap().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Compiles `sources` into `jar` unless a jar with that content hash exists.
fn kotlinc(sources: &[PathBuf], classpath: &str, jar: &Path) {
    if jar.exists() {
        return;
    }
    let kotlinc = compiler_lib().join("../bin/kotlinc");
    assert!(
        kotlinc.exists(),
        "kotlinc missing at {}: run scripts/install-test-tools",
        kotlinc.display()
    );
    let tmp = jar.with_extension("tmp.jar");
    run(
        Command::new(kotlinc)
            .arg("-nowarn")
            .args(sources)
            .args(["-cp", classpath, "-d"])
            .arg(&tmp),
        "kotlinc",
    );
    std::fs::rename(&tmp, jar).unwrap();
}

/// The Kotlin toolchain and compiled programs, built on first use.
pub fn kotlin() -> &'static Kotlin {
    static K: OnceLock<Kotlin> = OnceLock::new();
    K.get_or_init(build)
}

fn build() -> Kotlin {
    assert!(
        Path::new(JNA).exists(),
        "{JNA} missing: run scripts/install-test-tools (libjna-java)"
    );
    // Cargo builds fieldsync-ffi (a dependency of this package) with all its
    // crate types; the cdylib sits beside this test binary, unhashed.
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let lib = deps.join("libfieldsync_ffi.so");
    assert!(
        lib.exists(),
        "{} missing: cargo should have built it with this test",
        lib.display()
    );

    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mobile-kotlin");
    let generated = work.join(format!("generated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&generated);
    std::fs::create_dir_all(&work).unwrap();
    run(
        Command::new(env!("CARGO_BIN_EXE_fieldsync-uniffi-bindgen"))
            .args(["generate", "--library"])
            .arg(&lib)
            .args(["--language", "kotlin", "--no-format", "--out-dir"])
            .arg(&generated),
        "uniffi-bindgen",
    );
    let bindings_src = generated.join("com/fieldsync/fieldsync_ffi.kt");
    assert!(bindings_src.exists(), "no bindings generated");

    let stdlib = compiler_lib().join("kotlin-stdlib.jar");
    let base_cp = format!("{JNA}:{}", stdlib.display());
    let bindings = work.join(format!(
        "bindings-{}.jar",
        hash_files(std::slice::from_ref(&bindings_src), "")
    ));
    kotlinc(std::slice::from_ref(&bindings_src), &base_cp, &bindings);

    let programs = vec![
        workspace().join("tests/tests/mobile/kotlin/Visit.kt"),
        workspace().join("tests/tests/mobile/kotlin/Recovery.kt"),
        workspace().join("tests/tests/mobile/kotlin/Attach.kt"),
        workspace().join("tests/tests/mobile/kotlin/Shared.kt"),
    ];
    let programs_jar = work.join(format!(
        "programs-{}.jar",
        hash_files(&programs, &bindings.display().to_string())
    ));
    let cp = format!("{}:{base_cp}", bindings.display());
    kotlinc(&programs, &cp, &programs_jar);
    std::fs::remove_dir_all(&generated).unwrap();

    Kotlin {
        lib_dir: deps.to_owned(),
        classpath: format!("{}:{cp}", programs_jar.display()),
    }
}

impl Kotlin {
    /// The `java` command for `main_class` with `args`.
    pub fn command(&self, main_class: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("java");
        cmd.arg("-cp")
            .arg(&self.classpath)
            .arg(format!("-Djna.library.path={}", self.lib_dir.display()))
            .arg(main_class)
            .args(args);
        cmd
    }

    /// Runs `main_class` with `args` in a new JVM; returns its stdout, or
    /// panics with its output if it fails.
    pub fn java(&self, main_class: &str, args: &[&str]) -> String {
        let out = run(&mut self.command(main_class, args), main_class);
        String::from_utf8(out.stdout).unwrap()
    }
}
