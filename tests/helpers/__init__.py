"""What the tests build for real: tiny random models and their tokenizer (tiny), the tiny action
model and a model that favours chosen tokens (action), models taught fixed answers (teach), small
datasets (datasets), mlx_lm.server processes on 127.0.0.1 (servers), a fault-injecting proxy
(faultproxy) and the scripted teacher (scripted_teacher)."""
