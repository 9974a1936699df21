//! The events of one answer in the API its request came by: Chat Completions chunks in
//! the vendor's dialect ([`Events`]) or the Messages API's ([`MessagesEvents`]), behind one
//! interface the stream driver paces.

use bytes::BytesMut;

use crate::anthropic::MessagesEvents;
use crate::render::{Emitted, Events};

/// The events of one answer, in the API the request came by: Chat Completions chunks
/// in the vendor's dialect, or the Messages API's events ([`MessagesEvents`]).
#[derive(Debug)]
// The chat variant is the larger and the one every benchmark request builds: boxing it
// would add an allocation to the simulator's hot path to save stack on the rare one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Render {
    /// `/chat/completions`.
    Chat(Events),
    /// An Anthropic-compatible `/v1/messages`.
    Messages(MessagesEvents),
}

impl Render {
    /// See [`Events::decode_steps`].
    pub(crate) fn decode_steps(&self) -> u32 {
        match self {
            Render::Chat(e) => e.decode_steps(),
            Render::Messages(e) => e.decode_steps(),
        }
    }

    /// See [`Events::token_events`].
    pub(crate) fn token_events(&self) -> u32 {
        match self {
            Render::Chat(e) => e.token_events(),
            Render::Messages(e) => e.token_events(),
        }
    }

    /// See [`Events::step`].
    pub(crate) fn step(&self) -> Option<u32> {
        match self {
            Render::Chat(e) => e.step(),
            Render::Messages(e) => e.step(),
        }
    }

    /// See [`Events::next_is_token`].
    pub(crate) fn next_is_token(&self) -> bool {
        match self {
            Render::Chat(e) => e.next_is_token(),
            Render::Messages(e) => e.next_is_token(),
        }
    }

    /// See [`Events::write_next`].
    pub(crate) fn write_next(&mut self, buf: &mut BytesMut) -> Emitted {
        match self {
            Render::Chat(e) => e.write_next(buf),
            Render::Messages(e) => e.write_next(buf),
        }
    }

    /// See [`Events::write_completion`].
    pub(crate) fn write_completion(&mut self, buf: &mut BytesMut) {
        match self {
            Render::Chat(e) => e.write_completion(buf),
            Render::Messages(e) => e.write_completion(buf),
        }
    }
}
