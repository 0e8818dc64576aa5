//! The Backend.AI engine. For now: the two pieces every request to a manager needs first —
//! which API version to speak (negotiated from `GET /`) and the HMAC-SHA256 request signature
//! of keypair logins. See `reference/backendai-api.md` §1.

pub mod signing;
pub mod version;
