"""Constants shared by the board tests (a module of its own: ``conftest`` is a clashing name to import)."""

#: The small FSDD reservoir the simulated-board tests classify with (the brief's "SMALL" model).
SMALL = {"reservoir": {"n_devices": 8, "n_virtual": 2, "alpha": 0.01, "tau": 20000.0, "state_features": True}}
#: A few test-split recordings of the two-speaker subset (takes 0-4 are the test set).
WAVS = ("0_george_1.wav", "5_jackson_3.wav", "7_george_2.wav", "9_jackson_0.wav")

