"""RunPod serverless: the worker's handler, the endpoint client, a local compatible
endpoint for development, and deployment (image build context, template, endpoint)."""
