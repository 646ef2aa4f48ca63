cmake_minimum_required(VERSION 3.25)
# Installs the build tree into a scratch prefix, checks that the installed headers include
# nothing but ringactor's own headers, the standard library, the C library and the one
# header-only library the package declares as a public dependency (nlohmann-json, for the
# cluster's JSON codec: ringactorConfig.cmake finds it), so a dependency that merely happens
# to sit in /usr/include is never needed to compile them; builds
# tests/consumer against the prefix with find_package(ringactor), and runs the result.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
file(GLOB_RECURSE installed ${WORK_DIR}/prefix/include/*)
set(foreign "")
foreach(h IN LISTS installed)
  file(STRINGS ${h} includes REGEX "^[ \t]*#[ \t]*include[ \t]*<")
  foreach(line IN LISTS includes)
    string(REGEX MATCH "<([^>]+)>" _ "${line}")
    set(name ${CMAKE_MATCH_1})
    if(name MATCHES "^ringactor/")
      if(NOT EXISTS ${WORK_DIR}/prefix/include/${name})
        list(APPEND foreign "${h}: ${name} is not installed")
      endif()
    elseif(name MATCHES "/" AND NOT name MATCHES "^(sys|netinet|arpa|linux|nlohmann)/")
      list(APPEND foreign "${h}: includes <${name}>, a header of another package")
    endif()
  endforeach()
endforeach()
if(foreign)
  list(JOIN foreign "\n" text)
  message(FATAL_ERROR "installed headers need headers the package does not bring:\n${text}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer ok")
  message(FATAL_ERROR "the consumer failed (${rc}): ${out}")
endif()
