//! The pause image: the smallest container that stays up, for helpers that only need to
//! be running (the holder of a step's secrets on a remote engine keeps a tmpfs mounted; a
//! network holder keeps the network namespace steps join).
//!
//! Its files are two static executables of a few instructions each, made here for x86-64
//! and arm64 engines and imported once per engine ([`pause_image`]); they need nothing of
//! the image a step runs, not even a shell. `/pause` waits for signals forever (PID 1 of
//! a container ignores those it has no handler for; removal kills it). `/hold` waits
//! until its standard input ends: a container of it, attached to and removed by the
//! daemon when it exits, lives exactly as long as the connection of the process that
//! attached, however that process ends (`kill -9` included).

use sha2::{Digest, Sha256};

/// The path of the pause program in its image.
pub const PAUSE: &str = "/pause";

/// The path of the hold program in its image.
pub const HOLD: &str = "/hold";

/// The hold program for an engine of `architecture` (as Docker names it), if there is one:
/// `read(0, sp, 1)` until it returns 0 or an error, then `exit(0)`.
pub fn hold_program(architecture: &str) -> Option<Vec<u8>> {
    match architecture {
        "amd64" | "x86_64" => Some(static_executable(
            0x3e,
            &[
                0x31, 0xc0, // xor eax, eax (read)
                0x31, 0xff, // xor edi, edi (standard input)
                0x48, 0x89, 0xe6, // mov rsi, rsp (over argc: never read again)
                0xba, 0x01, 0x00, 0x00, 0x00, // mov edx, 1
                0x0f, 0x05, // syscall
                0x48, 0x85, 0xc0, // test rax, rax
                0x7f, 0xed, // jg back to the start
                0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
                0x31, 0xff, // xor edi, edi
                0x0f, 0x05, // syscall
            ],
        )),
        "arm64" | "aarch64" => {
            let words: [u32; 10] = [
                0xd280_07e8, // movz x8, #63 (read)
                0xd280_0000, // movz x0, #0 (standard input)
                0x9100_03e1, // mov x1, sp (over argc: never read again)
                0xd280_0022, // movz x2, #1
                0xd400_0001, // svc #0
                0xf100_001f, // cmp x0, #0
                0x54ff_ff4c, // b.gt -6 instructions
                0xd280_0ba8, // movz x8, #93 (exit)
                0xd280_0000, // movz x0, #0
                0xd400_0001, // svc #0
            ];
            Some(static_executable(0xb7, &words.iter().flat_map(|word| word.to_le_bytes()).collect::<Vec<_>>()))
        }
        _ => None,
    }
}

/// The pause program for an engine of `architecture` (as Docker names it), if there is one.
pub fn pause_program(architecture: &str) -> Option<Vec<u8>> {
    match architecture {
        // mov eax, 34 (pause); syscall; jmp back to the mov.
        "amd64" | "x86_64" => Some(static_executable(0x3e, &[0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7])),
        // ppoll(NULL, 0, NULL, NULL, 0) (arm64 has no pause); branch back to the start.
        "arm64" | "aarch64" => {
            let words: [u32; 8] = [
                0xd280_0928, // movz x8, #73 (ppoll)
                0xd280_0000, // movz x0, #0
                0xd280_0001, // movz x1, #0
                0xd280_0002, // movz x2, #0
                0xd280_0003, // movz x3, #0
                0xd280_0004, // movz x4, #0
                0xd400_0001, // svc #0
                0x17ff_fff9, // b -7 instructions
            ];
            Some(static_executable(0xb7, &words.iter().flat_map(|word| word.to_le_bytes()).collect::<Vec<_>>()))
        }
        _ => None,
    }
}

/// A 64-bit little-endian ELF executable for `machine` whose one loadable segment is its
/// headers followed by `code`, where it starts.
fn static_executable(machine: u16, code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADER: u64 = 64;
    const PROGRAM_HEADER: u64 = 56;
    let size = HEADER + PROGRAM_HEADER + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // Identification: magic, 64-bit, little-endian, version 1, System V ABI.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // an executable
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // version
    elf.extend_from_slice(&(BASE + HEADER + PROGRAM_HEADER).to_le_bytes()); // entry: the code
    elf.extend_from_slice(&HEADER.to_le_bytes()); // program headers right after this one
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    elf.extend_from_slice(&(HEADER as u16).to_le_bytes());
    elf.extend_from_slice(&(PROGRAM_HEADER as u16).to_le_bytes());
    elf.extend_from_slice(&1u16.to_le_bytes()); // one program header
    elf.extend_from_slice(&[0; 6]); // section header size, count and names: none
    // The segment: the whole file, loaded at BASE, readable and executable.
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    elf.extend_from_slice(&0u64.to_le_bytes()); // from the file's start
    elf.extend_from_slice(&BASE.to_le_bytes());
    elf.extend_from_slice(&BASE.to_le_bytes());
    elf.extend_from_slice(&size.to_le_bytes());
    elf.extend_from_slice(&size.to_le_bytes());
    elf.extend_from_slice(&0x1000u64.to_le_bytes());
    elf.extend_from_slice(code);
    elf
}

/// The repository of pause images.
pub const REPOSITORY: &str = "tanto-pause";

/// The image holding the pause and hold programs for `architecture` as [`PAUSE`] and
/// [`HOLD`], as an archive for `docker import`, and its tag in [`REPOSITORY`] (named by
/// the programs' content, so an engine keeps one per version of them); `None` for an
/// architecture without them.
pub fn pause_image(architecture: &str) -> Option<std::io::Result<(Vec<u8>, String)>> {
    let programs = [(PAUSE, pause_program(architecture)?), (HOLD, hold_program(architecture)?)];
    let image = || {
        let mut archive = tar::Builder::new(Vec::new());
        let mut digest = Sha256::new();
        for (path, program) in &programs {
            let mut header = tar::Header::new_gnu();
            header.set_size(program.len() as u64);
            header.set_mode(0o755);
            header.set_mtime(0);
            archive.append_data(&mut header, path.trim_start_matches('/'), program.as_slice())?;
            digest.update(path.as_bytes());
            digest.update(program);
        }
        Ok((archive.into_inner()?, hex::encode(digest.finalize())[..12].to_string()))
    };
    Some(image())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_program_waits_until_killed() {
        let Some(program) = pause_program(std::env::consts::ARCH) else {
            return;
        };
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pause");
        std::fs::write(&path, &program).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        // A fork another test makes while the file is open for writing keeps it open for
        // a moment, and exec refuses a file open for writing (ETXTBSY): try again.
        let mut attempts = 0;
        let mut child = loop {
            match std::process::Command::new(&path).spawn() {
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                spawned => break spawned.unwrap(),
            }
        };
        // A signal it has no handler for but does not die of wakes it, and it waits again.
        std::thread::sleep(std::time::Duration::from_millis(200));
        send_signal(child.id(), "CONT");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "the pause program stopped on its own");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    }

    fn send_signal(pid: u32, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The program of the other architecture runs under user-mode emulation
    /// (`qemu-user`, which scripts/setup installs): it waits, as the native one does.
    #[test]
    fn the_other_architectures_program_waits_under_emulation() {
        let (architecture, emulator) = match std::env::consts::ARCH {
            "x86_64" => ("arm64", "qemu-aarch64"),
            "aarch64" => ("amd64", "qemu-x86_64"),
            _ => return,
        };
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pause");
        std::fs::write(&path, pause_program(architecture).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(emulator)
            .arg(&path)
            .spawn()
            .unwrap_or_else(|error| panic!("{emulator}: {error} (scripts/setup installs qemu-user)"));
        std::thread::sleep(std::time::Duration::from_millis(500));
        let status = child.try_wait().unwrap();
        assert!(status.is_none(), "the {architecture} pause program stopped on its own: {status:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn both_programs_are_well_formed_executables() {
        for (architecture, machine) in [("amd64", 0x3e), ("arm64", 0xb7)] {
            for program in [pause_program(architecture).unwrap(), hold_program(architecture).unwrap()] {
                assert_eq!(&program[..4], b"\x7fELF");
                assert_eq!(u16::from_le_bytes([program[18], program[19]]), machine);
                let entry = u64::from_le_bytes(program[24..32].try_into().unwrap());
                assert_eq!(entry - 0x40_0000, 120, "the code starts after the two headers");
                let size = u64::from_le_bytes(program[96..104].try_into().unwrap());
                assert_eq!(size, program.len() as u64, "the segment is the whole file");
            }
        }
        assert!(pause_program("s390x").is_none() && hold_program("s390x").is_none() && pause_image("s390x").is_none());
    }

    /// The hold program of this machine's architecture, and of the other one under
    /// user-mode emulation (`qemu-user`, which scripts/setup installs): it reads what comes
    /// and waits, and exits with 0 once its standard input ends.
    #[test]
    fn the_hold_program_waits_until_its_input_ends() {
        let (native, other, emulator) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "arm64", "qemu-aarch64"),
            "aarch64" => ("arm64", "amd64", "qemu-x86_64"),
            _ => return,
        };
        let folder = tempfile::tempdir().unwrap();
        for (architecture, emulator) in [(native, None), (other, Some(emulator))] {
            let path = folder.path().join(format!("hold-{architecture}"));
            std::fs::write(&path, hold_program(architecture).unwrap()).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            let mut command = match emulator {
                Some(emulator) => {
                    let mut command = std::process::Command::new(emulator);
                    command.arg(&path);
                    command
                }
                None => std::process::Command::new(&path),
            };
            // A fork another test makes while the file is open for writing keeps it open
            // for a moment, and exec refuses a file open for writing (ETXTBSY): try again.
            let mut attempts = 0;
            let mut child = loop {
                match command.stdin(std::process::Stdio::piped()).spawn() {
                    Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 100 => {
                        attempts += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    spawned => break spawned.unwrap_or_else(|error| panic!("{architecture}: {error} (scripts/setup installs qemu-user)")),
                }
            };
            let mut input = child.stdin.take().unwrap();
            std::io::Write::write_all(&mut input, b"some bytes").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(
                child.try_wait().unwrap().is_none(),
                "the {architecture} hold program stopped with its input open"
            );
            drop(input);
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(0), "the {architecture} hold program after its input ended");
        }
    }
}
