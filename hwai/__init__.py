"""hwai: compress trained networks into bit-exact, budget-checked FPGA firmware.

``import hwai`` stays light: TensorFlow, torch, hls4ml and pyoperon are imported only
by the steps and frontends that need them.
"""

__version__ = "0.1.0"

# Loggers and warning sources of the frameworks hwai drives; silenced by quiet_frameworks().
NOISY = ("tensorflow", "keras", "absl", "tensorflow_model_optimization", "qkeras", "h5py", "hls4ml")


def quiet_frameworks() -> None:
    """Keep TensorFlow/absl/Keras start-up notices off the terminal (the CLI does this unless
    --debug): C++ log level 2, their Python loggers at ERROR, their import-time warnings off.
    Set before TensorFlow is imported; its C++ logger reads the variable once."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
