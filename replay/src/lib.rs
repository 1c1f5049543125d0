//! rlx-replay: replay buffers and rollout storage. No tch.
