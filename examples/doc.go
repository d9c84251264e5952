// Package examples holds the manifests and CI definitions users copy. It has no code: its
// tests lint the GitHub Actions workflows with actionlint and check the Azure Pipelines
// definitions against the structure the README describes.
package examples
