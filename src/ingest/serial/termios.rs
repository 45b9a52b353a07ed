//! Opening a serial device with the classic termios calls, for systems where the serial crate's
//! own open fails.
//!
//! The serial crate configures Linux ports with the `TCGETS2`/`TCSETS2` ioctls (they take any
//! baud rate). Emulators that run ARM builds of the agent on a build machine, such as qemu-user
//! 7.2, do not implement those ioctls and answer ENOSYS ("Function not implemented"), so the
//! agent could never open a port there. This path uses `tcgetattr`/`tcsetattr` with the standard
//! baud-rate constants instead, which every Linux (and qemu) implements, then hands the
//! configured descriptor to the serial crate. It is taken only when the crate's open failed with
//! ENOSYS, and only for the standard rates (50 baud to 4 Mbaud).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use crate::config::{Parity, SerialConfig};

/// Whether an error from the serial crate means "this system lacks a call the crate uses".
pub fn is_unsupported_call(e: &tokio_serial::Error) -> bool {
    // The crate maps ENOSYS to ErrorKind::Unknown and keeps only the errno's description.
    matches!(e.kind, tokio_serial::ErrorKind::Unknown)
        && e.description.starts_with("Function not implemented")
}

/// The termios speed constant for `baud`, or `None` for a non-standard rate.
pub fn speed_constant(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        50 => libc::B50,
        75 => libc::B75,
        110 => libc::B110,
        134 => libc::B134,
        150 => libc::B150,
        200 => libc::B200,
        300 => libc::B300,
        600 => libc::B600,
        1200 => libc::B1200,
        1800 => libc::B1800,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        460800 => libc::B460800,
        500000 => libc::B500000,
        576000 => libc::B576000,
        921600 => libc::B921600,
        1000000 => libc::B1000000,
        1152000 => libc::B1152000,
        1500000 => libc::B1500000,
        2000000 => libc::B2000000,
        2500000 => libc::B2500000,
        3000000 => libc::B3000000,
        3500000 => libc::B3500000,
        4000000 => libc::B4000000,
        _ => return None,
    })
}

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

/// Raw mode, the configured character size, parity and stop bits, no flow control.
fn apply_line_settings(t: &mut libc::termios, c: &SerialConfig) {
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(t) };
    t.c_cflag |= libc::CREAD | libc::CLOCAL;
    t.c_cflag &= !(libc::CSIZE | libc::PARENB | libc::PARODD | libc::CSTOPB | libc::CRTSCTS);
    t.c_cflag |= match c.data_bits {
        5 => libc::CS5,
        6 => libc::CS6,
        7 => libc::CS7,
        _ => libc::CS8,
    };
    match c.parity {
        Parity::None => {}
        Parity::Odd => t.c_cflag |= libc::PARENB | libc::PARODD,
        Parity::Even => t.c_cflag |= libc::PARENB,
    }
    if c.stop_bits == 2 {
        t.c_cflag |= libc::CSTOPB;
    }
    t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
}

/// Opens `c.device` raw, with the configured line settings, no flow control, and exclusive
/// access (like the serial crate's own open), as a port tokio can read.
pub fn open_classic(c: &SerialConfig) -> io::Result<tokio_serial::SerialStream> {
    let speed = speed_constant(c.baud).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "baud {} is not a standard rate, which this system needs (it lacks TCSETS2)",
                c.baud
            ),
        )
    })?;
    let path = CString::new(c.device.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "device path contains NUL"))?;
    // SAFETY: `path` is a valid NUL-terminated string; the returned descriptor is owned below.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    check(fd, "open")?;
    // SAFETY: `fd` was just opened and nothing else owns it; dropping `owned` closes it on error.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };

    // SAFETY: termios is plain old data; tcgetattr fills it before it is read.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `t` is a valid termios to write into.
    check(unsafe { libc::tcgetattr(fd, &mut t) }, "tcgetattr")?;
    apply_line_settings(&mut t, c);
    // SAFETY: `t` is a valid termios and `speed` one of the constants termios defines.
    check(unsafe { libc::cfsetspeed(&mut t, speed) }, "cfsetspeed")?;
    // SAFETY: `fd` is open and `t` a fully initialised termios.
    check(
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) },
        "tcsetattr",
    )?;

    // SAFETY: ownership of the descriptor passes to the port, which closes it when dropped.
    let port = unsafe { serialport::TTYPort::from_raw_fd(owned.into_raw_fd()) };
    if !port.exclusive() {
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "device is in use by another process",
        ));
    }
    tokio_serial::SerialStream::try_from(port).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::config::{LineFormat, TimeUnit, TimestampConfig};

    fn config(device: &str, baud: u32) -> SerialConfig {
        SerialConfig {
            name: "rs485".into(),
            device: device.into(),
            baud,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: 2,
            asset: "pump".into(),
            format: LineFormat::KeyValue,
            fields: vec![],
            timestamp: TimestampConfig {
                field: None,
                unit: TimeUnit::Millis,
                policy: crate::ingest::time_guard::TimePolicy::defaults(true),
            },
            max_frame_bytes: 1024,
        }
    }

    #[test]
    fn standard_rates_map_and_others_do_not() {
        assert_eq!(speed_constant(115200), Some(libc::B115200));
        assert_eq!(speed_constant(2_000_000), Some(libc::B2000000));
        assert_eq!(speed_constant(9600), Some(libc::B9600));
        assert_eq!(speed_constant(250_000), None);
        assert_eq!(speed_constant(0), None);
    }

    #[test]
    fn line_settings_set_size_parity_and_stop_bits() {
        // SAFETY: termios is plain old data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        t.c_cflag = libc::CRTSCTS | libc::CS8;
        t.c_iflag = libc::IXON | libc::IXOFF;
        t.c_lflag = libc::ICANON | libc::ECHO;
        apply_line_settings(&mut t, &config("/dev/x", 9600)); // 7E2
        assert_eq!(t.c_cflag & libc::CSIZE, libc::CS7);
        assert_eq!(t.c_cflag & (libc::PARENB | libc::PARODD), libc::PARENB);
        assert_ne!(t.c_cflag & libc::CSTOPB, 0);
        assert_eq!(t.c_cflag & libc::CRTSCTS, 0, "no hardware flow control");
        assert_eq!(
            t.c_iflag & (libc::IXON | libc::IXOFF),
            0,
            "no software flow control"
        );
        assert_eq!(t.c_lflag & (libc::ICANON | libc::ECHO), 0, "raw");
        assert_ne!(t.c_cflag & libc::CREAD, 0);

        let mut c = config("/dev/x", 9600);
        c.data_bits = 8;
        c.parity = Parity::Odd;
        c.stop_bits = 1;
        apply_line_settings(&mut t, &c);
        assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8);
        assert_eq!(
            t.c_cflag & (libc::PARENB | libc::PARODD),
            libc::PARENB | libc::PARODD
        );
        assert_eq!(t.c_cflag & libc::CSTOPB, 0);
        c.parity = Parity::None;
        apply_line_settings(&mut t, &c);
        assert_eq!(t.c_cflag & (libc::PARENB | libc::PARODD), 0);
    }

    #[test]
    fn enosys_is_recognised_and_other_errors_are_not() {
        let enosys =
            tokio_serial::Error::new(tokio_serial::ErrorKind::Unknown, "Function not implemented");
        assert!(is_unsupported_call(&enosys));
        let busy = tokio_serial::Error::new(tokio_serial::ErrorKind::NoDevice, "busy");
        assert!(!is_unsupported_call(&busy));
        let other = tokio_serial::Error::new(tokio_serial::ErrorKind::Unknown, "I/O error");
        assert!(!is_unsupported_call(&other));
    }

    #[tokio::test]
    async fn opens_a_pty_with_the_line_settings_and_reads_from_it() {
        // A real pseudo-terminal pair: we open the terminal end by name, as a device.
        let (mut controller, terminal) = serialport::TTYPort::pair().expect("pty pair");
        let name = serialport::SerialPort::name(&terminal).expect("pty name");
        drop(terminal);
        // A pty keeps the speed and stop bits it is given but holds its character size at 8
        // bits with no parity, so this checks 8N2 (the mapping of 7E is plain flag arithmetic).
        // 115200 baud: qemu-user, where this test also runs, drops the high-rate constants
        // (B2000000 reads back as 0) when it translates termios for the host.
        let mut c = config(&name, 115_200);
        c.data_bits = 8;
        c.parity = Parity::None;
        let mut port = open_classic(&c).expect("open");

        // The settings reached the terminal.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&port);
        // SAFETY: `fd` is the open port; `t` is filled by tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        assert_eq!(unsafe { libc::cfgetospeed(&t) }, libc::B115200);
        assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8);
        assert_eq!(t.c_cflag & libc::PARENB, 0);
        assert_ne!(t.c_cflag & libc::CSTOPB, 0);
        assert_eq!(t.c_lflag & libc::ICANON, 0, "raw mode");

        // A second open of the same device is refused: the port is exclusive.
        let second = open_classic(&c).expect_err("second open must fail");
        assert_eq!(second.kind(), io::ErrorKind::ResourceBusy, "{second}");

        controller.write_all(b"vib=0.5\n").expect("write");
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), port.read(&mut buf))
            .await
            .expect("read in time")
            .expect("read");
        assert_eq!(&buf[..n], b"vib=0.5\n");
    }

    #[test]
    fn non_standard_rate_and_missing_device_are_clear_errors() {
        let e = open_classic(&config("/dev/null", 250_000)).expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("250000"), "{e}");
        let e = open_classic(&config("/nonexistent/tty", 9600)).expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }
}
