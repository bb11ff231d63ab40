# cmake -P script run by the InstallConsumer test (see CMakeLists.txt beside it).
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${PREFIX} ${CONSUMER_BUILD})
run(${CMAKE_COMMAND} --install ${PROCMOD_BUILD_DIR} --prefix ${PREFIX})
# The man pages, when the build made them (man/; not without help2man).
file(GLOB man_pages ${PROCMOD_BUILD_DIR}/man/*.1)
foreach(page IN LISTS man_pages)
  get_filename_component(name ${page} NAME)
  if(NOT EXISTS ${PREFIX}/${MANDIR}/man1/${name})
    message(FATAL_ERROR "cmake --install put no ${name} into ${PREFIX}/${MANDIR}/man1")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${CONSUMER_BUILD} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${PREFIX}
    "-DCMAKE_CXX_FLAGS=${FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}")
run(${CMAKE_COMMAND} --build ${CONSUMER_BUILD})
run(${CONSUMER_BUILD}/procmod_consumer)
