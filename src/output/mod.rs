//! What people and other programs see: the progress display, the report's
//! views (table, markdown, CSV, JSON, HTML), logs on stderr, and uploads.

pub(crate) mod html;
pub(crate) mod log;
pub(crate) mod progress;
pub(crate) mod publish;
pub(crate) mod render;

use std::io::{self, Write};

/// Writes to stdout with `write`; a reader that leaves early (`| head`) is no
/// error: the rest is not wanted, and the command ends quietly, as Unix tools do.
pub(crate) fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut stdout = Stdout {
        out: io::stdout().lock(),
        reader_left: false,
    };
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Err(_) if stdout.reader_left => Ok(()),
        result => result,
    }
}

/// Stdout, noting when its reader has gone (however the error is wrapped on its
/// way up, by the CSV writer say).
struct Stdout {
    out: io::StdoutLock<'static>,
    reader_left: bool,
}

impl Stdout {
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            self.reader_left |= e.kind() == io::ErrorKind::BrokenPipe;
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let result = self.out.write(bytes);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.out.flush();
        self.note(result)
    }
}
