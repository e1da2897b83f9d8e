//! `close_discarding_unsent`: wherever a short write stopped, the peer reads
//! every frame that had begun to go out, whole, then the Close, and nothing
//! of the frames that had not (issue 30, item 5: a slow consumer's Close no
//! longer waits behind its backlog).

use std::io::IoSlice;

use bytes::Bytes;
use wsbolt_proto::{CloseFrame, Config, Connection, Event, Message, Role};

/// Sizes that cover every header form (7-bit, 16-bit, 64-bit lengths) and,
/// for a server, payloads queued by reference (16 KiB and more).
const SIZES: [usize; 9] = [10, 125, 126, 300, 20_000, 70_000, 0, 5, 16_384];

fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i * 31 + k) as u8).collect()
}

/// Every queued byte, without taking it.
fn queued(c: &mut Connection) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 64];
    let n = c.output().chunks_vectored(&mut slices);
    assert!(n < slices.len(), "more chunks than the test reads");
    slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
}

/// The sender's frames with a short write stopping after `cut` bytes (in
/// writes of `step` bytes), then `close_discarding_unsent`: what the peer
/// reads, and the start offset of every frame.
fn wire_after_cut(role: Role, cut: usize, step: usize) -> (Vec<u8>, Vec<usize>, usize) {
    let mut sender = Connection::new(role, Config::default());
    let mut starts = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        starts.push(sender.output_len());
        let msg = if i % 2 == 0 {
            Message::binary(payload(i, len))
        } else {
            Message::binary(Bytes::from(payload(i, len)))
        };
        sender.send(msg).unwrap();
    }
    let all = queued(&mut sender);
    let mut written = 0;
    while written < cut {
        let k = step.min(cut - written);
        sender.output().advance(k);
        written += k;
    }
    let dropped = sender
        .close_discarding_unsent(CloseFrame::new(1008u16, "slow consumer").ok())
        .unwrap();
    let mut wire = all[..cut].to_vec();
    wire.extend(sender.output().take_all());
    (wire, starts, dropped)
}

#[test]
fn the_peer_reads_the_frames_begun_whole_then_the_close() {
    for role in [Role::Server, Role::Client] {
        let peer_role = if role == Role::Server {
            Role::Client
        } else {
            Role::Server
        };
        let (_, starts, _) = wire_after_cut(role, 0, 1);
        let end = {
            let mut s = Connection::new(role, Config::default());
            for (i, &len) in SIZES.iter().enumerate() {
                s.send(Message::binary(payload(i, len))).unwrap();
            }
            s.output_len()
        };
        // Every frame boundary and the bytes beside it, inside headers
        // included, plus a spread through the payloads.
        let mut cuts: Vec<usize> = starts
            .iter()
            .flat_map(|&s| [s.saturating_sub(1), s, s + 1, s + 3, s + 9])
            .chain((0..end).step_by(4999))
            .filter(|&c| c < end)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        for &cut in &cuts {
            for step in [cut.max(1), 7, 4096] {
                let (wire, starts, dropped) = wire_after_cut(role, cut, step);
                // Frames that had begun: those starting before the cut.
                let begun = starts.iter().filter(|&&s| s < cut).count();
                let kept_end = starts.get(begun).copied().unwrap_or(end);
                assert_eq!(dropped, end - kept_end, "{role:?} cut {cut} step {step}");
                let mut peer = Connection::new(peer_role, Config::default());
                peer.receive(&wire);
                let events: Vec<Event> = std::iter::from_fn(|| peer.next_event()).collect();
                assert_eq!(events.len(), begun + 1, "{role:?} cut {cut} step {step}: {events:?}");
                for (i, ev) in events[..begun].iter().enumerate() {
                    match ev {
                        Event::Binary(b) => assert_eq!(&b[..], &payload(i, SIZES[i])[..], "{role:?} cut {cut}"),
                        other => panic!("{role:?} cut {cut}: message {i} came as {other:?}"),
                    }
                }
                match &events[begun] {
                    Event::Close(Some(f)) => {
                        assert_eq!((u16::from(f.code()), f.reason()), (1008, "slow consumer"))
                    }
                    other => panic!("{role:?} cut {cut} step {step}: not the Close but {other:?}"),
                }
            }
        }
    }
}

#[test]
fn nothing_written_drops_everything_and_a_second_close_is_refused() {
    let mut s = Connection::new(Role::Server, Config::default());
    s.send(Message::text("one")).unwrap();
    s.send(Message::binary(vec![1u8; 20_000])).unwrap();
    let queued = s.output_len();
    assert_eq!(s.close_discarding_unsent(None).unwrap(), queued);
    // Only the empty Close is left.
    assert_eq!(s.output().take_all(), vec![0x88, 0x00]);
    assert!(s.close_discarding_unsent(None).is_err());
}

#[test]
fn a_fragmented_message_under_way_is_abandoned_for_the_close() {
    use wsbolt_proto::frame::OpCode;
    let mut s = Connection::new(Role::Server, Config::default());
    s.send_fragment(OpCode::Text, b"first half", false).unwrap();
    let first = s.output_len();
    s.send_fragment(OpCode::Continuation, b" and more", false).unwrap();
    s.output().advance(first);
    s.close_discarding_unsent(CloseFrame::new(1008u16, "slow consumer").ok())
        .unwrap();
    let mut wire = vec![0x01, 10];
    wire.extend_from_slice(b"first half");
    wire.extend(s.output().take_all());
    let mut peer = Connection::new(Role::Client, Config::default());
    peer.receive(&wire);
    // The Close between fragments is legal; the message never completes.
    match peer.next_event() {
        Some(Event::Close(Some(f))) => assert_eq!(u16::from(f.code()), 1008),
        other => panic!("{other:?}"),
    }
}
