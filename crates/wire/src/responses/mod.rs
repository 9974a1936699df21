//! The Responses API (`POST /v1/responses`), its stateless subset: the request typed and
//! translated into Chat Completions ([`request`]), a whole answer as a `response`
//! object ([`response`]), and a stream re-told as the API's events ([`events`]).

pub mod events;
pub mod request;
pub mod response;

pub use events::ResponseEvents;
pub use request::ResponsesRequest;
pub use response::{Echo, from_completion};
