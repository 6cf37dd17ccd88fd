"""SageMaker Python SDK v3: its hooks (``hooks.py``) and grant-aware classes (``mixins.py``).

Importing this package imports nothing of the SDK; its modules do.
"""

SUPPORTED = "sagemaker >= 3.3, < 4"  # the SDK v3 versions sagemaker-s3ag is built and tested against
