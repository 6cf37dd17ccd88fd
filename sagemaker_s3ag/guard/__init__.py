"""The account-wide guard: the same rules on every SageMaker job launched in an account.

``events`` (CloudTrail records read back into API requests) → ``verdict`` (the core rules in check
mode) → ``actions`` (tag, publish, stop) → ``handler`` (the Lambda entry point); ``deploy`` holds the
CloudFormation template and the Lambda package. Never imports the SageMaker SDK. From a shell::

    s3ag guard template > guard.yaml
    s3ag guard replay saved-events.json
"""
