//! A sync frame from the network, decoded as the server decodes a request and as a tablet decodes
//! a response: never a panic, and whatever decodes re-encodes to a frame that decodes the same.

#![no_main]

use fieldsync_core::sync::protocol::{self, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: Serialize + DeserializeOwned>(frame: &[u8]) {
    let Ok(value) = protocol::decode::<T>(frame) else { return };
    // Compared as bytes: the values may hold NaN coordinates, which are not equal to themselves.
    let again = protocol::encode(&value);
    let decoded: T = protocol::decode(&again).expect("a re-encoded frame decodes");
    assert_eq!(protocol::encode(&decoded), again, "decode and encode disagree");
}

fuzz_target!(init: fieldsync_fuzz::panics::install(), |data: &[u8]| {
    round_trip::<SyncRequest>(data);
    round_trip::<SyncResponse>(data);
});
