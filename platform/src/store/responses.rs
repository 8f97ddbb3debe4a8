//! How an idempotency record keeps its response.
//!
//! A command's response is the resource it leaves (AIP methods return the resource), so the
//! record of an invitation into a workspace of fifty members holds about 3 kB (the
//! workspace's basic view, without its invitations, which once made it 9 to 17 kB), and those
//! bytes were most of what a command wrote: the writer's pages, the WAL, the checkpoint's
//! copies. A response of [`PACK_FROM`] bytes or more
//! is therefore kept as a **zstd frame** (level -3, with its content size and a checksum),
//! about half its size; a smaller one, or one that would not shrink, is kept as the
//! encoded message itself.
//!
//! A fast level rather than level 1: at level 1 most of zstd's time on a response of a few
//! kilobytes is spent building its entropy tables (Huffman for the literals, FSE for the
//! sequences), and compressing was 15% of the callers' CPU on an invite into a workspace of
//! fifty members. The negative levels keep the literals as they are (the ids' hex digits,
//! which Huffman coding would have squeezed to about half) and still find the repeats: the
//! benchmark's invite responses are kept in 1,640 bytes on average instead of 1,190, packed
//! in about 30% of the time (level -1: 1,580 bytes, 40% of the time).
//!
//! Reading tells the two apart by zstd's magic number: a frame is one that starts with it and
//! decompresses with a matching checksum; anything else is an encoded message (records
//! written before responses were packed are read the same way). A protobuf message starting
//! with those four bytes that is also a valid frame with a valid checksum is not a case that
//! can be met by chance.

use std::{borrow::Cow, cell::RefCell};

/// The size from which a response is compressed; below it a frame saves too little to pay.
pub const PACK_FROM: usize = 1024;

/// zstd's level: one of its fast levels, which leave the literals uncoded (see the module's
/// note).
const LEVEL: i32 = -3;

/// The four bytes every zstd frame starts with.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The largest response a frame is unpacked to (far above any resource this product returns;
/// a bound so that a damaged record cannot ask for unbounded memory).
const MAX_UNPACKED: usize = 64 << 20;

thread_local! {
    /// One compression context per thread: creating one costs more than compressing a
    /// response.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
}

/// The bytes a record keeps for the encoded response `encoded`.
pub fn pack(encoded: Vec<u8>) -> Vec<u8> {
    if encoded.len() < PACK_FROM {
        return encoded;
    }
    let packed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = new_compressor().ok();
        }
        slot.as_mut()
            .and_then(|compressor| compressor.compress(&encoded).ok())
    });
    match packed {
        Some(packed) if packed.len() < encoded.len() => packed,
        _ => encoded,
    }
}

fn new_compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
    compressor.include_checksum(true)?;
    compressor.include_contentsize(true)?;
    Ok(compressor)
}

/// The encoded response a record keeps as `stored` (see [`pack`]).
pub fn unpack(stored: &[u8]) -> Cow<'_, [u8]> {
    if !stored.starts_with(&MAGIC) {
        return Cow::Borrowed(stored);
    }
    match zstd::bulk::decompress(stored, MAX_UNPACKED) {
        Ok(unpacked) => Cow::Owned(unpacked),
        // Not a frame after all: an encoded message that starts with the same bytes.
        Err(_) => Cow::Borrowed(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response as large as a workspace's: repetitive text with varying ids.
    fn large() -> Vec<u8> {
        (0..200)
            .flat_map(|i| {
                format!("member-{i:04}@example.com role=MEMBER since=2026-12-04;").into_bytes()
            })
            .collect()
    }

    #[test]
    fn a_small_response_is_kept_as_it_is() {
        let small = b"\x0a\x24a small encoded message".to_vec();
        assert!(small.len() < PACK_FROM);
        assert_eq!(pack(small.clone()), small);
        assert_eq!(unpack(&small).as_ref(), small.as_slice());
    }

    #[test]
    fn a_large_response_is_kept_as_a_smaller_frame_and_read_back_exactly() {
        let encoded = large();
        let stored = pack(encoded.clone());
        assert!(stored.starts_with(&MAGIC), "kept as a zstd frame");
        assert!(
            stored.len() * 3 < encoded.len(),
            "{} bytes kept for {}",
            stored.len(),
            encoded.len()
        );
        assert_eq!(unpack(&stored).as_ref(), encoded.as_slice());
    }

    #[test]
    fn a_response_that_would_not_shrink_is_kept_as_it_is() {
        // Bytes of a 64-bit linear congruential sequence: nothing for zstd to find.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                state.to_be_bytes()[0]
            })
            .collect();
        assert_eq!(pack(noise.clone()), noise);
        assert_eq!(unpack(&noise).as_ref(), noise.as_slice());
    }

    #[test]
    fn an_encoded_message_that_starts_like_a_frame_is_read_as_it_is() {
        let mut lookalike = MAGIC.to_vec();
        lookalike.extend_from_slice(b"not a frame at all, an old record's message");
        assert_eq!(unpack(&lookalike).as_ref(), lookalike.as_slice());
    }

    #[test]
    fn a_damaged_frame_is_not_taken_for_the_response() {
        let encoded = large();
        let mut stored = pack(encoded.clone());
        let last = stored.len() - 1;
        stored[last] ^= 0xff;
        assert_ne!(
            unpack(&stored).as_ref(),
            encoded.as_slice(),
            "the checksum catches it"
        );
    }
}
