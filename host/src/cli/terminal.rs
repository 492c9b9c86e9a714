//! The process's terminal lent to interactive shells ([`Console`]): raw mode while a shell
//! runs, keystrokes read from stdin, output written to stdout, SIGWINCH turned into size
//! changes, and the live progress view paused meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::backend::{TerminalIo, TerminalSize};
use crate::engine::Progress;
use crate::engine::console::{Console, ConsoleLease};

const STDIN: libc::c_int = 0;
const STDOUT: libc::c_int = 1;

/// Whether both stdin and stdout are terminals: a shell needs to read keys and draw.
pub fn is_interactive() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(STDIN) == 1 && libc::isatty(STDOUT) == 1 }
}

/// The user's terminal; `display` is the progress view it pauses while a shell runs.
pub struct TerminalConsole {
    display: Arc<dyn Progress>,
}

impl TerminalConsole {
    pub fn new(display: Arc<dyn Progress>) -> Self {
        Self { display }
    }
}

impl Console for TerminalConsole {
    fn lease(&self, banner: &str) -> Result<ConsoleLease, String> {
        self.display.suspend(true);
        eprintln!("\ntanto: {banner}");
        let raw = match RawMode::enter() {
            Ok(raw) => raw,
            Err(error) => {
                self.display.suspend(false);
                return Err(format!("cannot put the terminal in raw mode: {error}"));
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (keys, input) = tokio::sync::mpsc::channel(64);
        let reader_stop = stop.clone();
        std::thread::Builder::new()
            .name("tanto-terminal-input".into())
            .spawn(move || read_keys(&keys, &reader_stop))
            .map_err(|error| format!("cannot start reading the keyboard: {error}"))?;
        let (sizes, size) = tokio::sync::watch::channel(terminal_size().unwrap_or_default());
        let resizes = tokio::spawn(async move {
            let Ok(mut window_changes) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
                return;
            };
            while window_changes.recv().await.is_some() {
                if let Some(size) = terminal_size()
                    && sizes.send(size).is_err()
                {
                    return;
                }
            }
        });
        let guard = Lease {
            raw: Some(raw),
            stop,
            resizes,
            display: self.display.clone(),
        };
        Ok(ConsoleLease {
            io: TerminalIo {
                input,
                output: Box::new(tokio::io::stdout()),
                size,
            },
            guard: Box::new(guard),
        })
    }
}

/// Gives the terminal back: stops reading keys and following resizes, restores the
/// terminal's modes, resumes the progress view.
struct Lease {
    raw: Option<RawMode>,
    stop: Arc<AtomicBool>,
    resizes: tokio::task::JoinHandle<()>,
    display: Arc<dyn Progress>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.resizes.abort();
        drop(self.raw.take());
        self.display.suspend(false);
    }
}

/// Reads keystrokes from stdin until `stop`, the end of input, or the shell's side hangs
/// up. It polls rather than blocking in `read`, so that once the shell ends no read is
/// left pending to swallow the user's next keystroke.
fn read_keys(keys: &tokio::sync::mpsc::Sender<Vec<u8>>, stop: &AtomicBool) {
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) && !keys.is_closed() {
        let mut poll = libc::pollfd {
            fd: STDIN,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 100) };
        if ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if ready <= 0 {
            if ready < 0 {
                return;
            }
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: reads at most `buffer.len()` bytes into `buffer`.
        let read = unsafe { libc::read(STDIN, buffer.as_mut_ptr().cast(), buffer.len()) };
        match usize::try_from(read) {
            Ok(0) => return,
            Ok(count) => {
                if keys.blocking_send(buffer[..count].to_vec()).is_err() {
                    return;
                }
            }
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The terminal's size, from stdout.
fn terminal_size() -> Option<TerminalSize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize.
    let done = unsafe { libc::ioctl(STDOUT, libc::TIOCGWINSZ, &mut size) };
    (done == 0).then_some(TerminalSize {
        rows: size.ws_row,
        columns: size.ws_col,
    })
}

/// Raw mode on stdin's terminal (every key passed on as typed, Ctrl-C included, which so
/// reaches the shell instead of stopping tanto); the previous modes come back on drop.
struct RawMode {
    original: libc::termios,
}

impl RawMode {
    fn enter() -> std::io::Result<Self> {
        let mut original = std::mem::MaybeUninit::<libc::termios>::zeroed();
        // SAFETY: tcgetattr fills the termios on success.
        if unsafe { libc::tcgetattr(STDIN, original.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: filled above.
        let original = unsafe { original.assume_init() };
        let mut raw = original;
        // SAFETY: cfmakeraw edits the termios it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: a termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { original })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the modes read in `enter`.
        unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &self.original) };
    }
}
