package testenv

import "testing"

// RedisTLS returns the rediss:// URL of the test Redis server that speaks
// TLS, and the PEM file of the CA that signed its certificate.
func RedisTLS(t testing.TB) (url, caFile string) {
	t.Helper()
	return need(t, "BECKON_TEST_REDIS_TLS_URL", "Redis with TLS"), need(t, "BECKON_TEST_REDIS_CA_FILE", "Redis with TLS")
}

// RedisCluster returns the URL of the test Redis Cluster (three masters,
// named with addr=). A test may kill one of its masters if it starts it
// again, with the same options, before it ends.
func RedisCluster(t testing.TB) string {
	t.Helper()
	return need(t, "BECKON_TEST_REDIS_CLUSTER_URL", "Redis Cluster")
}
