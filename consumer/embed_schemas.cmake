# embed_schemas.cmake - run as `cmake -DOUT=<file.c> -DSCHEMAS="a.avsc;b.avsc" -P embed_schemas.cmake`.
# Writes a C file defining `const char segstream_schema_<stem>_json[]` for each
# .avsc, every byte as a \xNN escape (no quoting rules to get wrong), so the
# .avsc files stay the single source of truth.
set(body "/* Generated from schemas/ (.avsc files) by consumer/embed_schemas.cmake; do not edit. */\n")
string(APPEND body "#include \"consumer/schemas.h\"\n")
foreach(path IN LISTS SCHEMAS)
  get_filename_component(stem "${path}" NAME_WE)
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" n)
  string(APPEND body "\nconst char segstream_schema_${stem}_json[] =")
  set(pos 0)
  while(pos LESS n)
    string(SUBSTRING "${hex}" ${pos} 48 chunk)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" chunk "${chunk}")
    string(APPEND body "\n  \"${chunk}\"")
    math(EXPR pos "${pos} + 48")
  endwhile()
  string(APPEND body ";\n")
endforeach()
file(WRITE "${OUT}.tmp" "${body}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
