"""The CDK Terrain (CDK for Terraform) app: one stack per concern. Entry: app.synth()."""
