//! placeholder, replaced by the proto crate work
