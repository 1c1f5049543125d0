"""Reference values for agents/src/distributions.rs (PyTorch 2.11.0): run with the project's venv python."""
import torch
from torch.distributions import Categorical, Normal

c = Categorical(logits=torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]))
print("categorical log_prob([1, 2])", c.log_prob(torch.tensor([1, 2])).tolist())  # [-0.464369, -1.098612]
print("categorical entropy", c.entropy().tolist())  # [0.905959, 1.098612]
n = Normal(torch.tensor([[0.5, -1.0]]), torch.exp(torch.tensor([0.2, -0.3])))
print("gaussian log_prob([[1, 0]]).sum(-1)", n.log_prob(torch.tensor([[1.0, 0.0]])).sum(-1).tolist())  # [-2.732727]
print("gaussian entropy().sum(-1)", n.entropy().sum(-1).tolist())  # [2.737877]
