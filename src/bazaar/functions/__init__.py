"""Bazaar Functions: a serverless platform built the way AWS Lambda works behind the scenes."""
