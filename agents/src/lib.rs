//! rlx-agents: reinforcement-learning algorithms on tch.
