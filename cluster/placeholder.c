/* replaced by the cluster sources */
typedef int segstream_cluster_placeholder;
