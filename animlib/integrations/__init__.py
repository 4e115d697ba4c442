"""Adapters logging torchattacks, ART and Foolbox attacks into a BatchWriter (import each one)."""

# ``animlib.integrations.torchattacks``, ``.art`` and ``.foolbox`` each offer ``run(...)``; they
# import their library (and so torch) only when called. Plain PyTorch loops need no adapter:
# ``writer.log(images=x_adv, logits=model(x_adv))`` takes tensors as they are.
