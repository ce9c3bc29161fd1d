"""Deploying, describing, invoking and tearing down an objbackup deployment with CloudFormation.

CLI-only: the Lambda bundle leaves this package out. Imports boto3 and the standard library only.
"""
