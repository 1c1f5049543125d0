//! rlx-models: neural networks on tch (MLP, NatureCNN, ...) shared by the agents and the supervised trainers.
