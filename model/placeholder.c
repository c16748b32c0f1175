/* replaced by the encoder sources */
typedef int segstream_model_placeholder;
