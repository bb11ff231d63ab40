# Warnings and sanitizers, applied to every target of the project.
# Designated initializers that leave members at their defaults are the point of
# them, so -Wmissing-field-initializers stays off.
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(PROCMOD_WERROR)
  add_compile_options(-Werror)
endif()

if(PROCMOD_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(PROCMOD_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT PROCMOD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "PROCMOD_SANITIZE must be 'address', 'thread' or empty, "
                      "not '${PROCMOD_SANITIZE}'")
endif()
