"""What belongs to one task only: its simulator (and reference posterior), and where it needs them its
observation preprocessing and summary network.

- :mod:`.two_moons`: :class:`TwoMoons` (sbibm's two moons, exact reference posterior);
- :mod:`.gmm`: :class:`BimodalGMM` (bimodal Gaussian mixture with iid observations, exact reference);
- :mod:`.inverse_kinematics`: :class:`InverseKinematics` (a 4-parameter robot arm, rejection reference);
- :mod:`.sbibm_tasks`: :class:`SBIBMTask` (any sbibm task whose simulator runs in Python; the ``[sbibm]`` extra);
- :mod:`.tumor`: :class:`TumorSpheroid`, :func:`simulate_tumor`, :class:`TumorPreprocessing`, :class:`TumorSummary`.

Each is importable on its own; the package root ``cmpe_lightning`` re-exports the public names.
"""
