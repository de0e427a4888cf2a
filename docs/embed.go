// Package docs embeds the OpenAPI document so that tests (and tools) read
// the same file that people do.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
