"""CloudFormation templates; the package only exists so the templates travel inside the wheel."""
