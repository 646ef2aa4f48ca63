# ringactor_add_module(<name> SOURCES <src...> DEPS <module...> [LIBS <external...>])
#
# Makes the library target ringactor_<name> with alias ringactor::<name> (exported as
# ringactor::<name>), public headers in <name>/include/ringactor/<name>/, private sources in
# <name>/src/. DEPS are the other ringactor modules it may use (the arrows in DESIGN.md);
# LIBS its external libraries. Also makes ringactor_<name>_headers, an object library that
# compiles every public header on its own, so a header that forgets an include fails the
# build. tests/layering_check.cmake checks that no header or source includes a module
# outside DEPS.
function(ringactor_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  set(target ringactor_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(ringactor::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME ringactor_${name}
                                             POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set(deps "")
  foreach(dep IN LISTS ARG_DEPS)
    list(APPEND deps ringactor_${dep})
  endforeach()
  target_link_libraries(${target} PUBLIC ${deps} ${ARG_LIBS})
  set_property(GLOBAL APPEND PROPERTY RINGACTOR_MODULES ${name})
  set_property(GLOBAL PROPERTY RINGACTOR_DEPS_${name} "${ARG_DEPS}")

  # Every public header compiles alone.
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/include/ringactor/${name}/*.hpp)
  set(checks "")
  foreach(h IN LISTS headers)
    file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR}/include ${h})
    string(MAKE_C_IDENTIFIER ${rel} id)
    set(src ${CMAKE_CURRENT_BINARY_DIR}/header_check/${id}.cpp)
    file(CONFIGURE OUTPUT ${src} CONTENT "#include <${rel}>\n#include <${rel}>  // include guard works\n")
    list(APPEND checks ${src})
  endforeach()
  if(checks)
    add_library(${target}_headers OBJECT ${checks})
    target_link_libraries(${target}_headers PRIVATE ${target})
  endif()

  install(TARGETS ${target} EXPORT ringactorTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
