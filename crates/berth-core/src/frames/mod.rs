//! The terminal and exec byte stream every engine speaks to the app: frames of
//! `[kind u8][length u32 LE][payload]`, each written with a single `write` so a keystroke costs
//! one syscall per hop. A local session's supervisor speaks it natively; the Docker runtime and
//! Backend.AI's pty websocket are bridged onto it, so one terminal implementation (with its
//! flow control) serves them all.

mod stream;

pub use stream::{FrameStream, loopback_pair, pair};

use std::io::{self, Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Frame {
    /// PTY output, or an exec's stdout (session → client).
    Output = 0,
    /// An exec's stderr (session → client).
    Stderr = 1,
    /// Keystrokes or stdin bytes (client → session).
    Input = 2,
    /// New terminal size: cols u16 LE, rows u16 LE (client → session).
    Resize = 3,
    /// The process ended: its status as i32 LE, 128 + signal when killed (session → client).
    Exit = 4,
    /// No more stdin (client → session).
    InputEnd = 5,
}

impl Frame {
    pub fn from_byte(byte: u8) -> io::Result<Self> {
        Ok(match byte {
            0 => Self::Output,
            1 => Self::Stderr,
            2 => Self::Input,
            3 => Self::Resize,
            4 => Self::Exit,
            5 => Self::InputEnd,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown frame kind {other}"),
                ));
            }
        })
    }
}

/// Frames larger than this are refused: a peer cannot make the other side allocate freely.
pub const MAX_FRAME: usize = 1 << 20;

/// One frame as bytes, ready for a single write.
pub fn encode_frame(kind: Frame, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(kind as u8);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
    buf
}

pub fn write_frame(out: &mut impl Write, kind: Frame, payload: &[u8]) -> io::Result<()> {
    out.write_all(&encode_frame(kind, payload))
}

/// The kind and payload length of a frame header, checked against [`MAX_FRAME`].
pub fn parse_header(header: [u8; 5]) -> io::Result<(Frame, usize)> {
    let kind = Frame::from_byte(header[0])?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is too large"),
        ));
    }
    Ok((kind, len))
}

/// Reads one frame into `payload`; `None` at a clean end of stream.
pub fn read_frame(input: &mut impl Read, payload: &mut Vec<u8>) -> io::Result<Option<Frame>> {
    let mut header = [0u8; 5];
    match input.read_exact(&mut header[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    input.read_exact(&mut header[1..])?;
    let (kind, len) = parse_header(header)?;
    payload.resize(len, 0);
    input.read_exact(payload)?;
    Ok(Some(kind))
}

pub fn resize_payload(cols: u16, rows: u16) -> [u8; 4] {
    let [c0, c1] = cols.to_le_bytes();
    let [r0, r1] = rows.to_le_bytes();
    [c0, c1, r0, r1]
}

/// `(cols, rows)` of a resize payload; `None` when it is not four bytes.
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    let bytes: [u8; 4] = payload.try_into().ok()?;
    Some((
        u16::from_le_bytes([bytes[0], bytes[1]]),
        u16::from_le_bytes([bytes[2], bytes[3]]),
    ))
}

pub fn exit_payload(code: i32) -> [u8; 4] {
    code.to_le_bytes()
}

pub fn parse_exit(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_ones_are_refused() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Frame::Input, b"ls\r").unwrap();
        write_frame(&mut wire, Frame::Resize, &resize_payload(120, 40)).unwrap();
        let mut input = wire.as_slice();
        let mut payload = Vec::new();
        assert_eq!(
            read_frame(&mut input, &mut payload).unwrap(),
            Some(Frame::Input)
        );
        assert_eq!(payload, b"ls\r");
        assert_eq!(
            read_frame(&mut input, &mut payload).unwrap(),
            Some(Frame::Resize)
        );
        assert_eq!(parse_resize(&payload), Some((120, 40)));
        assert_eq!(read_frame(&mut input, &mut payload).unwrap(), None);

        let mut huge = vec![Frame::Output as u8];
        huge.extend_from_slice(&((MAX_FRAME + 1) as u32).to_le_bytes());
        assert!(read_frame(&mut huge.as_slice(), &mut payload).is_err());
        let unknown = [9u8, 0, 0, 0, 0];
        assert!(read_frame(&mut unknown.as_slice(), &mut payload).is_err());
        assert_eq!(parse_exit(&exit_payload(-7)), -7);
    }
}
