//! Framing a `std::net::TcpStream` with the `Framer`, and writing with the crate's writer.
//!
//! The framer does no I/O: this program reads the socket in a plain blocking loop, feeds
//! every chunk to `Framer::feed`, then takes frames with `Framer::next_frame` until it
//! returns `Ok(None)`, and prints each. It writes our own stream header first with
//! `write_stream_header`, and on a framing error the stream error the framer names.
//!
//! ```text
//! cargo run -p llxmpp-framer --example tcp_frames                    # loopback demo
//! cargo run -p llxmpp-framer --example tcp_frames -- connect 10.0.0.7:5298
//! cargo run -p llxmpp-framer --example tcp_frames -- listen 0.0.0.0:5298
//! ```
//!
//! With no argument it needs no network: a sender thread connects to a listener on
//! 127.0.0.1 and writes a whole stream (header, a message, a keepalive, an IQ, the close)
//! in chunks of 7 bytes, cutting tags, references and multi-byte characters in the middle;
//! the frames come out whole all the same. `connect` frames what a link-local peer (its
//! SRV port, usually 5298) sends after our header; `listen` does the same for one peer
//! that connects to us.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use llxmpp_framer::{
    write_message, write_stream_close, write_stream_error, write_stream_header, Frame, Framer,
    Message, Parsed, StreamHeader,
};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut print = |line: String| println!("{line}");
    match args.as_slice() {
        [] => demo(&mut print),
        [mode, addr] if mode == "connect" => {
            let stream = TcpStream::connect(addr.as_str())?;
            println!("connected to {addr}");
            frame_stream(stream, &mut print)
        }
        [mode, addr] if mode == "listen" => {
            let listener = TcpListener::bind(addr.as_str())?;
            println!("listening on {}", listener.local_addr()?);
            let (stream, peer) = listener.accept()?;
            println!("{peer} connected");
            frame_stream(stream, &mut print)
        }
        _ => {
            eprintln!("usage: tcp_frames [connect ADDR | listen ADDR]");
            std::process::exit(2);
        }
    }
}

/// The loopback demo: a sender thread writes a stream in 7-byte chunks to our listener.
fn demo(print: &mut impl FnMut(String)) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    print(format!(
        "listening on {addr}; a sender thread writes in 7-byte chunks"
    ));
    let sender = thread::spawn(move || -> io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        for chunk in demo_stream().as_bytes().chunks(7) {
            stream.write_all(chunk)?;
            stream.flush()?;
        }
        stream.shutdown(Shutdown::Write)?;
        // Read what the framing side wrote back until it closes, so that our close does
        // not reset the connection under bytes it has yet to read.
        io::copy(&mut stream, &mut io::sink())?;
        Ok(())
    });
    let (stream, _) = listener.accept()?;
    frame_stream(stream, print)?;
    sender.join().expect("the sender thread panicked")
}

/// What the demo's sender writes: a stream as a link-local peer sends one.
fn demo_stream() -> String {
    let mut header = StreamHeader::new();
    header.from = Some("juliet@pronto".to_owned());
    header.to = Some("romeo@montague".to_owned());
    header.version = Some("1.0".to_owned());
    let mut out = String::new();
    write_stream_header(&mut out, &header);
    let message = Message::chat(
        "juliet@pronto",
        "romeo@montague",
        "Wherefore art thou? <3 ☺",
    );
    write_message(&mut out, &message);
    out.push_str("\n  ");
    out.push_str("<iq type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
    write_stream_close(&mut out);
    out
}

/// Writes our stream header, then frames everything the peer sends until it closes its
/// stream or the connection, printing one line a frame.
fn frame_stream(mut stream: TcpStream, print: &mut impl FnMut(String)) -> io::Result<()> {
    let mut header = StreamHeader::new();
    header.from = Some("romeo@montague".to_owned());
    header.version = Some("1.0".to_owned());
    let mut out = String::new();
    write_stream_header(&mut out, &header);
    stream.write_all(out.as_bytes())?;

    let mut framer = Framer::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            print("connection closed by the peer".to_owned());
            return Ok(());
        }
        framer.feed(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::StreamClose)) => {
                    print("stream close".to_owned());
                    let mut close = String::new();
                    write_stream_close(&mut close);
                    stream.write_all(close.as_bytes())?;
                    return Ok(());
                }
                Ok(Some(frame)) => print(describe(frame)),
                Err(error) => {
                    print(format!(
                        "error: {error}; sending <{}/>",
                        error.condition().name()
                    ));
                    let mut reply = String::new();
                    write_stream_error(&mut reply, error.condition(), None);
                    write_stream_close(&mut reply);
                    stream.write_all(reply.as_bytes())?;
                    return Ok(());
                }
            }
        }
    }
}

/// One line for a frame: its kind, and for a stanza its typed view.
fn describe(frame: Frame<'_>) -> String {
    match frame {
        Frame::StreamOpen(header) => format!(
            "stream open: from={:?} to={:?} version={:?}",
            header.from, header.to, header.version
        ),
        Frame::Keepalive => "keepalive".to_owned(),
        Frame::StreamClose => "stream close".to_owned(),
        Frame::Stanza(stanza) => {
            let kind = stanza.kind();
            match stanza.parse() {
                Ok(Parsed::Message(message)) => format!(
                    "stanza {kind:?}: from={:?} body={:?}",
                    message.from,
                    message.text().unwrap_or_default()
                ),
                Ok(Parsed::Iq(iq)) => format!(
                    "stanza {kind:?}: type={} id={} payload={{{}}}{}",
                    iq.kind.name(),
                    iq.id,
                    iq.payload_namespace.unwrap_or_default(),
                    iq.payload_name.unwrap_or_default()
                ),
                Ok(_) => format!("stanza {kind:?}: {}", stanza.as_str()),
                Err(error) => format!("stanza {kind:?} (unreadable: {error}): {}", stanza.as_str()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_demo_frames_every_part_of_the_stream() {
        let mut lines = Vec::new();
        demo(&mut |line| lines.push(line)).unwrap();
        assert_eq!(
            lines[1..],
            [
                "stream open: from=Some(\"juliet@pronto\") to=Some(\"romeo@montague\") \
                 version=Some(\"1.0\")",
                "stanza Message: from=Some(\"juliet@pronto\") body=\"Wherefore art thou? <3 ☺\"",
                "keepalive",
                "stanza Iq: type=get id=v1 payload={jabber:iq:version}query",
                "stream close",
            ]
        );
    }
}
