"""SageMaker Python SDK v2: its hooks (``hooks.py``) and grant-aware classes (``mixins.py``).

Importing this package imports nothing of the SDK; its modules do.
"""

SUPPORTED = "sagemaker >= 2.200, < 3"  # the SDK v2 versions sagemaker-s3ag is built and tested against
