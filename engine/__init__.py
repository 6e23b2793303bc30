"""iotguard: policy-as-code for Azure IoT deployments."""

__version__ = "0.1.0"
