"""Preference optimisation from verifier feedback: on-policy samples of the SFT model, verified per
constraint and for language stability, then KTO (default) or DPO with TRL on Ray Train + DeepSpeed."""
